/** Span export (tracing): where spans go, in clear or not, and whose trace context the gateway believes. */
import { isPlainHttpOffLoopback } from '../../config/index.js';
import type { CheckDefinition } from '../types.js';
import { judged, skipped, warn } from '../outcome.js';
import { urlHost } from '../../core/net.js';

export const tracingChecks: CheckDefinition[] = [
  {
    id: 'tracing.export',
    title: 'Spans exported over a protected channel, trace context from trusted peers only',
    source: 'seed 003 §9 ("Configure OpenTelemetry for observability"); seed 000 TLS best practices §1',
    fix: 'Use an https:// tracing.endpoint (or a collector on loopback), keep trust_incoming: trusted_proxies, and point it at the OTLP/HTTP port (4318), not gRPC (4317).',
    refusals: /^tracing\./,
    inspect({ cfg }) {
      const t = cfg.tracing;
      if (!t.enabled) return skipped('tracing.enabled is false: no spans leave the gateway');
      const url = t.endpoint ?? '';
      // The host of the collector URL only: the URL itself may carry a query credential.
      const host = urlHost(url) ?? '(invalid URL)';
      return judged(
        [
          // With headers this is a production refusal (reported through `refusals`); without, spans still name routes and statuses.
          isPlainHttpOffLoopback(url) && Object.keys(t.headers).length === 0 && warn(`tracing.endpoint is plain http to ${host}: spans (routes, statuses, request ids) cross the network in clear`),
          /:4317$/.test(host) && warn(`tracing.endpoint is on port 4317, OTLP/gRPC's port: the gateway speaks OTLP/HTTP JSON only (port 4318, path /v1/traces)`),
          t.trust_incoming === 'all' && warn('tracing.trust_incoming is all: any client picks its trace id and forces sampling (span volume at the collector)'),
        ],
        `spans go to ${host} (${url.startsWith('https:') ? 'https' : 'loopback'}); trace context believed from ${t.trust_incoming === 'none' ? 'no one' : 'server.trusted_proxies'}`,
      );
    },
  },
];

import { z } from 'zod';
import { approvalSection } from './approval.js';
import { auditSection } from './audit.js';
import { authSection } from './auth.js';
import { authzSection } from './authz.js';
import { clientSection } from './client.js';
import { section } from './common.js';
import { encryptionSection } from './encryption.js';
import { limitsSection } from './limits.js';
import { redactSection } from './redact.js';
import { residencySection } from './residency.js';
import { secretsSection } from './secrets.js';
import { logSection, metricsSection, routeSchema, serverSection } from './server.js';
import { storeSection } from './store.js';
import { tracingSection } from './tracing.js';

/**
 * The one closed schema: every key Gatehouse understands, with every default in one place.
 * An unknown key anywhere is an error naming its path and the nearest valid key (config/load.ts).
 */
export const configSchema = z.strictObject({
  /** State directory: dev CA, signing secrets, SQLite store, audit log. Default ./.gatehouse or $GATEHOUSE_HOME. */
  state_dir: z.string().optional(),
  server: serverSection,
  /** Route names key the upstream pools, credentials, limits and audit records: each must be unique. */
  routes: z
    .array(routeSchema)
    .default([])
    .superRefine((routes, ctx) => {
      const seen = new Set<string>();
      routes.forEach((r, i) => {
        const name = r.name ?? `route${i}`;
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate route name "${name}" (an unnamed route at index N is named routeN)` });
        seen.add(name);
      });
    }),
  /** Built-in demo upstreams (echo at /echo, MCP at /mcp). On in the embedded default only. */
  demo: section({ enabled: z.boolean().default(false) }),
  store: storeSection,
  log: logSection,
  metrics: metricsSection,
  auth: authSection,
  authz: authzSection,
  approval: approvalSection,
  audit: auditSection,
  redact: redactSection,
  encryption: encryptionSection,
  limits: limitsSection,
  secrets: secretsSection,
  /** The outbound secure client (gatehouse/client, `gatehouse client request`): seed 000's agent-side security block. */
  client: clientSection,
  /** W3C Trace Context propagation and OTLP/HTTP span export (seed 003 §9; docs/gateway.md § Tracing). */
  tracing: tracingSection,
  /** Which regions each tenant's data may be processed in (seed 002 data residency; docs/authorization.md § Data residency). */
  residency: residencySection,
});

export type ConfigInput = z.input<typeof configSchema>;
export type GatehouseConfig = z.infer<typeof configSchema> & {
  /** Resolved at load: absolute state directory. */
  state_dir: string;
  /** Resolved at load: development | production. */
  profile: 'development' | 'production';
};
export type RouteConfig = z.infer<typeof routeSchema>;
export type TlsConfig = GatehouseConfig['server']['tls'];
export { MOZILLA_INTERMEDIATE_CIPHERS, TLS_VERSIONS } from './server.js';

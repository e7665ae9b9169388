/** The profile, logging, the listener's neighbours (proxies, CORS), the state store and the demo services. */
import { isIP } from 'node:net';
import { ipMatcher } from '../../core/net.js';
import { trustsEveryAddress } from '../../config/index.js';
import type { CheckDefinition, DoctorContext, Finding, Outcome } from '../types.js';
import { fail, isLoopbackHost, judged, listenHost, passed, warn } from '../outcome.js';

/** Broader than a /8 (IPv4) or a /32 (IPv6, a whole provider allocation) is not "our proxies". */
const BROAD_BITS = { 4: 8, 6: 32 } as const;

function trustedProxies({ cfg }: DoctorContext): Outcome {
  const entries = cfg.server.trusted_proxies;
  if (entries.length === 0) return passed('server.trusted_proxies is empty: no forwarded header is believed');
  try {
    ipMatcher(entries);
  } catch (e) {
    return judged([fail(`server.trusted_proxies: ${(e as Error).message}`)], '');
  }
  // A production refusal (config/profiles.ts), reported through `refusals` below.
  if (trustsEveryAddress(entries)) return judged([], '');
  const broad = entries.flatMap((entry, i): Finding[] => {
    const [addr = '', bits] = entry.trim().split('/');
    const family = isIP(addr);
    if (family === 0 || bits === undefined) return [];
    return Number(bits) < BROAD_BITS[family as 4 | 6] ? [warn(`server.trusted_proxies[${i}] is ${entry}: every client in it can choose the address that rate limits, lockouts and the audit see`)] : [];
  });
  return judged(broad, `server.trusted_proxies names ${entries.length} proxy addresses or narrow ranges`);
}

/** Which Host names the main listener serves (DNS rebinding); the gateway decides by the same rule (core/hosts.ts). */
function allowedHosts({ cfg }: DoctorContext): Outcome {
  const listed = cfg.server.allowed_hosts;
  if (listed !== undefined) return passed(`server.allowed_hosts names ${listed.length} host${listed.length === 1 ? '' : 's'}: requests for any other get 421`);
  const host = listenHost(cfg.server.listen);
  if (host === undefined || !isLoopbackHost(host)) {
    return judged([warn(`server.listen is ${cfg.server.listen.slice(0, 64)}, not loopback, and server.allowed_hosts is unset: any Host is served, so a page whose name is re-pointed at the gateway (DNS rebinding) is same-origin with it`)], '');
  }
  return judged(
    [cfg.server.trusted_proxies.length > 0 && warn('server.listen is loopback and server.trusted_proxies is set: only loopback names are served, so a proxy forwarding the public name (Host or X-Forwarded-Host) is refused with 421 until server.allowed_hosts lists it')],
    `server.listen is loopback (${cfg.server.listen.slice(0, 64)}): only loopback names (localhost, *.localhost, 127.0.0.1, [::1]) are served`,
  );
}

/** Where the metrics listener answers, over what, and who may scrape it (the refusals come from metricsProblems). */
function metricsExposure({ cfg }: DoctorContext): Outcome {
  const m = cfg.metrics;
  if (!m.enabled) return passed('metrics.enabled is false: no metrics listener');
  const { tls } = m;
  const mtls = tls.enabled && tls.client_auth === 'require';
  const transport = !tls.enabled ? 'plain HTTP' : mtls ? 'HTTPS with client certificates required (mTLS)' : tls.client_auth === 'request' ? 'HTTPS, client certificates requested' : 'HTTPS';
  const credentials = [m.token !== undefined ? 'the token' : '', mtls ? 'a client certificate' : ''].filter(Boolean);
  const guards = [m.token !== undefined ? 'a bearer token' : '', mtls ? 'client certificates' : '', m.allowed_ips.length > 0 ? `${m.allowed_ips.length} allowed address ranges` : ''].filter(Boolean);
  const host = listenHost(m.listen);
  const loopback = host !== undefined && isLoopbackHost(host);
  return judged(
    [
      !loopback && m.allowed_ips.length === 0 && warn(`metrics.listen ${m.listen} answers any client that reaches it${credentials.length > 0 ? ` holding ${credentials.join(' and ')}` : ''}: list your scrapers in metrics.allowed_ips`),
      // Seed 001: a bearer credential sent over plain HTTP beyond this host can be intercepted and replayed.
      !loopback && !tls.enabled && m.token !== undefined && warn(`metrics.token crosses the network in clear: metrics.listen ${m.listen} is plain HTTP; enable metrics.tls`),
    ],
    `metrics on ${loopback ? 'loopback' : 'a reachable address'} (${m.listen}) over ${transport}${guards.length > 0 ? `, guarded by ${guards.join(' and ')}` : ''}`,
  );
}

export const serverChecks: CheckDefinition[] = [
  {
    id: 'profile.production',
    title: 'Production profile',
    source: 'seed 003 §1 ("Set ENV=production")',
    fix: 'Run the gateway with GATEHOUSE_ENV=production (or ENV=production): production refuses every unsafe setting at start.',
    inspect: ({ production, cfg }) =>
      production
        ? passed(cfg.profile === 'production' ? 'the profile is production' : 'evaluated as production (--production); the environment selects development')
        : judged([warn(`evaluated as development${cfg.profile === 'development' ? ' (GATEHOUSE_ENV/ENV unset or development)' : ''}: production refusals below are warnings only`)], ''),
  },
  {
    id: 'log.level',
    title: 'Log level info or higher',
    source: 'seed 003 §1 ("avoid DEBUG in production"); seed 004 production checklist',
    fix: 'Set log.level: info (or warn).',
    inspect({ cfg }) {
      const level = cfg.log.level;
      if (level === 'debug' || level === 'trace') return judged([warn(`log.level is ${level}: request details reach the logs`)], '');
      if (level === 'silent') return judged([warn('log.level is silent: security warnings are not logged either')], '');
      return passed(`log.level is ${level}`);
    },
  },
  {
    id: 'server.admin_cors',
    title: 'No wildcard CORS on the admin API',
    source: 'seed 003 §7 ("Avoid wildcard (*) CORS in production")',
    fix: 'List the exact origins of your admin console in server.admin_cors_origins.',
    refusals: /^server\.admin_cors_origins$/,
    passDetail: 'server.admin_cors_origins has no "*"',
  },
  {
    id: 'server.trusted_proxies',
    title: 'Forwarded headers believed from named proxies only',
    source: 'seed 002 security best practices §4 (network policies); seed 001 threat 1',
    fix: 'List only the addresses of your reverse proxies (or their narrow subnet) in server.trusted_proxies.',
    refusals: /^server\.trusted_proxies$/,
    inspect: trustedProxies,
  },
  {
    id: 'server.allowed_hosts',
    title: 'Host names served are listed (DNS rebinding)',
    source: 'seed 003 §7 ("Configure CORS appropriately"); MCP transports, security warning ("prevent DNS rebinding attacks")',
    fix: 'List the names clients reach the gateway by (app.example.com, *.example.com) in server.allowed_hosts.',
    inspect: allowedHosts,
  },
  {
    id: 'metrics.exposure',
    title: 'Metrics reachable by monitoring only',
    source: 'seed 002 network security ("allow TCP 8080 from monitoring"); seed 003 §7 (restrict administrative endpoints)',
    fix: 'Keep metrics.listen on loopback, or guard it with metrics.token (token_file) over metrics.tls, or with metrics.tls client_auth: require and a ca_file; list your Prometheus servers in metrics.allowed_ips and firewall the port.',
    refusals: /^metrics\.(listen$|tls\.)/,
    inspect: metricsExposure,
  },
  {
    id: 'store.kind',
    title: 'Persistent state store',
    source: 'seed 001 incident response ("Revoke compromised token"); seed 003 §10 ("backup and disaster recovery")',
    fix: 'Set store.kind: sqlite (the default) so revocations, lockouts, API keys and approvals survive restarts and are shared by workers.',
    inspect({ cfg, severe }) {
      if (cfg.store.kind === 'memory') return judged([{ status: severe, detail: 'store.kind is memory: revocations, lockouts, API keys and approvals are lost on restart and not shared between workers' }], '');
      return passed(`store.kind is ${cfg.store.kind}${cfg.store.path ? ` at ${cfg.store.path}` : ''}`);
    },
  },
  {
    id: 'demo.disabled',
    title: 'No demo services',
    source: 'seed 003 §1 ("production-mode behaviors"); seed 002 operational security ("debug_mode: true # Not in production")',
    fix: 'Set demo.enabled: false and point routes at real upstreams instead of demo:echo / demo:mcp.',
    refusals: /^(demo\.enabled|routes\[\]\.upstream)$/,
    passDetail: 'demo.enabled is false and no route uses a demo: upstream',
  },
];

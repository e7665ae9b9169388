/** Routes and their upstreams (seed 000 TLS best practices, seed 002 "Never set tls_skip_verify: true"). */
import { isRefusedTokenUrl } from '../../client/index.js';
import { injectsCredential, type RouteConfig } from '../../config/index.js';
import type { CheckDefinition, Finding } from '../types.js';
import { fail, isLoopbackHost, judged, routeLabel, skipped, warn } from '../outcome.js';
import { upstreamPinsCheck } from './pins.js';

/** The host of a plain-http upstream that leaves this machine, else undefined. */
function remotePlainHost(upstream: string): string | undefined {
  if (!/^http:/i.test(upstream)) return undefined;
  try {
    const host = new URL(upstream).hostname;
    return isLoopbackHost(host) ? undefined : host;
  } catch {
    return undefined;
  }
}

/** The host of an upstream off this machine (any scheme), else undefined. */
function remoteHost(upstream: string): string | undefined {
  if (!/^https?:/i.test(upstream)) return undefined;
  try {
    const host = new URL(upstream).hostname;
    return isLoopbackHost(host) ? undefined : host;
  } catch {
    return undefined;
  }
}

/** An upstream's origin (scheme, host, port), or the text itself when it is no URL (demo: upstreams). */
function originOf(upstream: string): string {
  try {
    return new URL(upstream).origin;
  } catch {
    return upstream;
  }
}

/**
 * Routes signing identity headers with one key and one audience for different upstreams: the audience (by default the
 * route's name) is what keeps headers sent to one upstream from verifying at another; an explicit audience shared by
 * routes to different upstreams gives that up.
 */
function sharedSigningKeys(routes: readonly { r: RouteConfig; i: number }[]): Finding[] {
  const byKey = new Map<string, { r: RouteConfig; i: number }[]>();
  for (const x of routes) {
    const sign = x.r.identity_headers?.sign;
    const audience = x.r.identity_headers?.audience ?? x.r.name ?? `route${x.i}`;
    const id = JSON.stringify([sign, audience]);
    if (sign !== undefined) byKey.set(id, [...(byKey.get(id) ?? []), x]);
  }
  return [...byKey.values()]
    .filter((group) => new Set(group.map(({ r }) => originOf(r.upstream))).size > 1)
    .map((group) => warn(`${group.map(({ r, i }) => routeLabel(r, i)).join(', ')} sign identity headers with the same key and audience for different upstreams: headers sent to one verify at the others (give each its own audience, or its own key)`));
}

export const routeChecks: CheckDefinition[] = [
  {
    id: 'routes.identity_signed',
    title: 'Identity headers signed when the upstream is reachable from elsewhere',
    source: 'ARCHITECTURE transform stage ("identity headers"); seed 001 threat 1 ("Compromised Tailnet Node")',
    fix: 'Set routes[].identity_headers.sign to a key of 32 bytes or more, and verify the signature upstream (verifyIdentityHeaders).',
    inspect({ cfg }) {
      const routes = cfg.routes.map((r, i) => ({ r, i })).filter(({ r }) => r.identity_headers !== undefined);
      if (routes.length === 0) return skipped('no route sends identity headers');
      return judged(
        [
          ...routes.map(({ r, i }) => {
            const host = remoteHost(r.upstream);
            return !r.identity_headers?.sign && host !== undefined
              ? warn(`${routeLabel(r, i)} sends unsigned identity headers to ${host}: whoever reaches that upstream directly can claim any identity`)
              : undefined;
          }),
          ...sharedSigningKeys(routes),
        ],
        'every route sending identity headers signs them with its own key, or its upstream is on loopback',
      );
    },
  },
  {
    id: 'routes.auth_required',
    title: 'Every route requires an identity',
    source: 'seed 001 defense layer 2 ("Valid token required for all operations")',
    fix: 'Remove auth_required: false from the route (public content belongs on another server).',
    refusals: /^routes\[\]\.auth_required$/,
    passDetail: 'every route has auth_required: true',
  },
  {
    id: 'routes.upstream_tls_verify',
    title: 'Upstream certificates verified',
    source: 'seed 000 TLS best practices §5; seed 002 operational security ("tls_skip_verify: true # NEVER")',
    fix: 'Remove routes[].tls.insecure_skip_verify; give the upstream\'s CA in routes[].tls.ca_file instead.',
    refusals: /^routes\[\]\.tls\.insecure_skip_verify$/,
    passDetail: 'no https route skips certificate verification',
  },
  {
    id: 'routes.upstream_tls_version',
    title: 'Upstream TLS 1.2 or newer',
    source: 'seed 000 TLS best practices §2',
    fix: 'Set routes[].tls.min_version: tls12 (or tls13).',
    refusals: /^routes\[\]\.tls\.min_version$/,
    passDetail: 'every https route requires TLS 1.2 or newer',
  },
  upstreamPinsCheck,
  {
    id: 'routes.plain_http',
    title: 'Upstreams off this host reached over https',
    source: 'seed 000 TLS best practices §1 ("Always use TLS in production"); seed 003 §5 ("Enable TLS for database connections")',
    fix: 'Use an https:// upstream (with routes[].tls.ca_file for a private CA), or keep the plain-http upstream on loopback.',
    // An injected upstream credential in clear text is a leaked credential: a production refusal (config/profiles.ts).
    refusals: /^routes\[\]\.upstream_auth$/,
    inspect({ cfg }) {
      if (cfg.routes.length === 0) return skipped('no routes are configured');
      const plain = cfg.routes.flatMap((r, i): Finding[] => {
        // The gateway refuses to start with it (in every profile): the grant's client secret would travel in clear.
        const tokenUrl = r.upstream_auth?.oauth2?.token_url;
        if (tokenUrl !== undefined && isRefusedTokenUrl(tokenUrl)) return [fail(`routes[${i}].upstream_auth.oauth2.token_url is plain http off loopback: the client secret would cross the network unencrypted, and the gateway refuses to start`)];
        const host = remotePlainHost(r.upstream);
        if (host === undefined) return [];
        if (injectsCredential(r)) return []; // the refusal above reports it
        return [warn(`${routeLabel(r, i)} forwards over plain http to ${host}: identity headers and bodies cross the network unencrypted`)];
      });
      return judged(plain, 'every upstream is https, on loopback, or a built-in service');
    },
  },
  {
    id: 'routes.end_to_end_encryption',
    title: 'End-to-end routes accept only ciphertext',
    source: 'seed 002 end-to-end encryption ("Broker routes ciphertext (zero-knowledge)")',
    fix: 'Set routes[].encryption.required: true, with key_ids naming the stream keys, on every end_to_end route.',
    inspect({ cfg, production }) {
      const routes = cfg.routes.map((r, i) => ({ r, i })).filter(({ r }) => r.end_to_end || r.encryption?.required === true);
      if (routes.length === 0) return skipped('no route is end_to_end or requires encryption');
      const decrypts = cfg.encryption.enabled && cfg.encryption.request_bodies.enabled;
      const open = routes.filter(({ r }) => r.end_to_end && r.encryption?.required !== true);
      return judged(
        [
          ...routes.map(({ r, i }) =>
            // The gateway itself refuses to start so (src/gateway/crypto.ts): every body would be refused.
            r.encryption?.required === true && !r.end_to_end && !decrypts
              ? fail(`${routeLabel(r, i)} requires encrypted bodies the gateway must decrypt, but encryption.request_bodies is not enabled: the gateway refuses to start`)
              : undefined,
          ),
          // A producer that forgets to encrypt sends cleartext through a route the operator believes carries ciphertext.
          ...(production ? open.map(({ r, i }) => warn(`${routeLabel(r, i)} is end_to_end but accepts plaintext bodies (routes[${i}].encryption.required is not set)`)) : []),
        ],
        open.length > 0
          ? `${open.map(({ r, i }) => routeLabel(r, i)).join(', ')} accept plaintext bodies on end_to_end routes (warned in production)`
          : 'every end_to_end route requires ciphertext',
      );
    },
  },
  {
    id: 'routes.cors',
    title: 'CORS restricted to listed https origins',
    source: 'seed 003 §7 ("Restrict Access-Control-Allow-Origin to specific domains in production"; "Avoid wildcard (*) CORS")',
    fix: 'List the exact https:// origins of the pages that call the route in routes[].cors.allowed_origins.',
    refusals: /^routes\[\]\.cors\.allowed_origins$/,
    inspect({ cfg }) {
      const routes = cfg.routes.map((r, i) => ({ r, i })).filter(({ r }) => r.cors !== undefined);
      if (routes.length === 0) return skipped('no route answers cross-origin requests (routes[].cors)');
      return judged(
        routes.flatMap(({ r, i }) => {
          // A page served over plain http can be replaced by anyone on its network path, and then acts as that origin.
          const plain = (r.cors?.allowed_origins ?? []).filter((o) => o.startsWith('http://') && !isLoopbackHost(new URL(o.replace('*.', 'wildcard.')).hostname));
          return [
            plain.length > 0 && warn(`${routeLabel(r, i)} allows plain-http origins (${plain.join(', ')}): whoever can alter those pages in transit can call the route with the visitor's browser`),
            r.cors?.allow_credentials === true && r.cors.allowed_origins.some((o) => o.includes('*.')) &&
              warn(`${routeLabel(r, i)} sends credentials to wildcard origins: any subdomain (a forgotten or user-content one included) can call the route with the visitor's session`),
          ];
        }),
        'every CORS route lists its origins, over https',
      );
    },
  },
  {
    id: 'routes.mcp_sessions',
    title: 'MCP session ids bound to the principal',
    source: 'seed 001 defense layer 2 ("Valid token required for all operations", never a session id); MCP security best practices ("Session Hijacking")',
    fix: 'Remove authz.mcp.sessions.insecure_unbound; behind a load balancer give every gateway host the same authz.mcp.sessions.key_file (0600).',
    refusals: /^authz\.mcp\.sessions\.insecure_unbound$/,
    inspect({ cfg }) {
      const routes = cfg.routes.flatMap((r, i) => (r.kind === 'mcp' ? [routeLabel(r, i)] : []));
      if (routes.length === 0) return skipped('no kind: mcp route');
      const s = cfg.authz.mcp.sessions;
      if (s.insecure_unbound) return judged([], '');
      const key = s.key_file !== undefined ? 'the key in authz.mcp.sessions.key_file' : 'a key generated in the state directory (one per gateway host: hosts behind one load balancer need a shared key_file)';
      return judged([], `session ids on ${routes.join(', ')} are bound to the principal with ${key}`);
    },
  },
  {
    id: 'routes.error_bodies',
    title: 'Upstream error bodies redacted',
    source: 'seed 002 application security ("Sanitize error before returning to user"); seed 004 log sanitization',
    fix: 'Set routes[].error_bodies to redact (the default) or replace.',
    inspect({ cfg }) {
      if (cfg.routes.length === 0) return skipped('no routes are configured');
      const passing = cfg.routes.flatMap((r, i) => (r.error_bodies === 'pass' ? [routeLabel(r, i)] : []));
      return judged(
        [passing.length > 0 && warn(`error_bodies is pass on ${passing.join(', ')}: upstream stack traces and secrets in error responses reach clients unchanged`)],
        'every route redacts or replaces upstream error bodies',
      );
    },
  },
];

/** Server TLS as configured (seed 003 §7 "Use HTTPS only", seed 000 TLS best practices, seed 002 deployment security). */
import type { CheckDefinition } from '../types.js';
import { fail, isLoopbackHost, judged, listenHost, passed, showDuration, skipped, warn } from '../outcome.js';

const YEAR_MS = 365 * 86_400_000;

export const tlsChecks: CheckDefinition[] = [
  {
    id: 'tls.enabled',
    title: 'HTTPS only',
    source: 'seed 003 §7; seed 001 security assumptions',
    fix: 'Set server.tls.enabled: true with cert_file and key_file; without TLS listen on loopback only, behind a TLS-terminating proxy.',
    refusals: /^server\.tls\.enabled$/,
    inspect({ cfg }) {
      if (cfg.server.tls.enabled) return passed('server.tls.enabled is true');
      const host = listenHost(cfg.server.listen);
      // Seed 001: tokens sent over plain HTTP beyond this host can be intercepted — unsafe in every profile.
      const exposed = host === undefined || !isLoopbackHost(host);
      return judged([exposed && fail(`server.tls.enabled is false and server.listen is ${cfg.server.listen}, not a loopback address: credentials would cross the network in plain text`)], 'server.tls.enabled is false, listening on loopback only');
    },
  },
  {
    id: 'tls.dev_ca',
    title: 'Certificate from a real CA, not the development CA',
    source: 'seed 002 security best practices §1; seed 000 TLS best practices §3',
    fix: 'Set server.tls.cert_file and key_file to a certificate from your CA (the generated development CA is for development only).',
    refusals: /^server\.tls\.(cert_file|key_file)/,
    inspect({ cfg }) {
      if (!cfg.server.tls.enabled) return skipped('server.tls.enabled is false');
      return passed('server.tls.cert_file is not issued by a Gatehouse development CA');
    },
  },
  {
    id: 'tls.min_version',
    title: 'TLS 1.2 or newer',
    source: 'seed 000 TLS best practices §2; seed 002 transport security',
    fix: 'Set server.tls.min_version: tls12 (or tls13) and remove insecure_allow_legacy_tls.',
    refusals: /^server\.tls\.(min_version|insecure_allow_legacy_tls)$/,
    inspect({ cfg }) {
      if (!cfg.server.tls.enabled) return skipped('server.tls.enabled is false');
      return passed(`server.tls.min_version is ${cfg.server.tls.min_version}`);
    },
  },
  {
    id: 'tls.ciphers',
    title: 'No weak cipher suites',
    source: 'seed 002 transport security ("modern cipher suites")',
    fix: 'Remove @SECLEVEL=0 from server.tls.ciphers (the default is Mozilla intermediate).',
    refusals: /^server\.tls\.ciphers$/,
    inspect({ cfg }) {
      if (!cfg.server.tls.enabled) return skipped('server.tls.enabled is false');
      return passed('server.tls.ciphers admits no NULL, anonymous or weak-key suites');
    },
  },
  {
    id: 'tls.client_ca',
    title: 'Client certificates chain to your CA',
    source: 'seed 000 TLS best practices §4; seed 002 security best practices §1',
    fix: 'With server.tls.client_auth request or require, set server.tls.ca_file to the CA that issues your client certificates.',
    refusals: /^server\.tls\.(client_auth|ca_file)$/,
    inspect({ cfg }) {
      const tls = cfg.server.tls;
      if (!tls.enabled || tls.client_auth === 'none') return skipped('server.tls.client_auth is none');
      return passed(`server.tls.client_auth is ${tls.client_auth} with ca_file set`);
    },
  },
  {
    id: 'tls.hsts',
    title: 'HTTP Strict Transport Security',
    source: 'seed 003 §7 "Enable HTTP Strict Transport Security"',
    fix: 'Set server.tls.hsts.enabled: true with max_age of at least 365d.',
    inspect({ cfg }) {
      const { enabled, hsts } = cfg.server.tls;
      if (!enabled) return skipped('server.tls.enabled is false');
      if (!hsts.enabled) return judged([warn('server.tls.hsts.enabled is false: browsers may be downgraded to plain http')], '');
      return judged(
        [hsts.max_age < YEAR_MS && warn(`server.tls.hsts.max_age is ${showDuration(hsts.max_age)}: under a year, the policy lapses between visits`)],
        `server.tls.hsts is on, max_age ${showDuration(hsts.max_age)}`,
      );
    },
  },
  {
    id: 'tls.mtls_allowlist',
    title: 'Client certificates narrowed to known names',
    source: 'seed 002 security best practices §8 (least privilege); seed 000 TLS best practices §4',
    fix: 'List the accepted client certificates in server.tls.mtls_allowed_common_names or mtls_allowed_sans.',
    inspect({ cfg }) {
      const tls = cfg.server.tls;
      if (!tls.enabled || tls.client_auth === 'none') return skipped('server.tls.client_auth is none');
      const narrowed = tls.mtls_allowed_common_names.length + tls.mtls_allowed_sans.length;
      return judged(
        [narrowed === 0 && warn(`server.tls.client_auth is ${tls.client_auth} and mtls_allowed_common_names and mtls_allowed_sans are empty: any certificate the CA in ca_file signed is accepted`)],
        `server.tls.mtls_allowed_common_names/sans name ${narrowed} accepted certificate identities`,
      );
    },
  },
];

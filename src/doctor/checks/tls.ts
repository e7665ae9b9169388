/** Server TLS as configured (seed 003 §7 "Use HTTPS only", seed 000 TLS best practices, seed 002 deployment security). */
import { createSecureContext } from 'node:tls';
import { resolveProtocolPolicy } from '../../tls/index.js';
import type { CheckDefinition, DoctorContext, Finding, Outcome } from '../types.js';
import { fail, isLoopbackHost, judged, listenHost, passed, showDuration, skipped, warn } from '../outcome.js';

const YEAR_MS = 365 * 86_400_000;

/**
 * The TLS 1.2 suites a cipher string enables, judged by class. OpenSSL expands the string (aliases such as DEFAULT,
 * HIGH, ALL, "!", "+"), so it is asked: the configured string with every suite outside a class removed still
 * builds a context exactly when the effective list holds a suite of that class (an empty TLS 1.2 list is "no cipher
 * match"). TLS 1.3 suites are fixed by OpenSSL and always strong.
 */
const SUITE_CLASSES: readonly { keepOnly: string; broken: boolean; what: string }[] = [
  { keepOnly: '!AES:!CHACHA20:!CAMELLIA:!ARIA', broken: true, what: 'suites with NULL, RC4, DES/3DES or other broken encryption' },
  { keepOnly: '!aRSA:!aECDSA:!aDSS:!aPSK:!aSRP:!aGOST01:!aGOST12', broken: true, what: 'anonymous suites (no server authentication: anyone in the path can intercept)' },
  { keepOnly: '!kECDHE:!kDHE:!kECDHEPSK:!kDHEPSK', broken: false, what: 'suites without forward secrecy (RSA or PSK key exchange: a stolen key decrypts recorded traffic)' },
  { keepOnly: '!AESGCM:!AESCCM:!CHACHA20:!ARIAGCM', broken: false, what: 'CBC suites (not AEAD: padding-oracle attacks such as Lucky13)' },
  { keepOnly: '!SHA256:!SHA384:!AESGCM:!AESCCM:!CHACHA20:!ARIAGCM', broken: false, what: 'suites with a SHA-1 (or MD5) MAC' },
];

function enables(ciphers: string, keepOnly: string): boolean {
  try {
    createSecureContext({ ciphers: `${ciphers}:${keepOnly}` });
    return true;
  } catch {
    return false;
  }
}

function cipherSuites({ cfg, severe }: DoctorContext): Outcome {
  const tls = cfg.server.tls;
  if (!tls.enabled) return skipped('server.tls.enabled is false');
  if (tls.min_version === 'tls13') return passed('server.tls.min_version is tls13: only the TLS 1.3 suites (all AEAD, forward secret) are used');
  let ciphers: string;
  try {
    ciphers = resolveProtocolPolicy(tls).ciphers;
    createSecureContext({ ciphers });
  } catch {
    return judged([fail('server.tls.ciphers enables no TLS 1.2 suite OpenSSL knows (or the version settings are invalid): the listener does not start')], '');
  }
  const findings = SUITE_CLASSES.filter((c) => enables(ciphers, c.keepOnly)).map((c): Finding => ({ status: c.broken ? severe : 'warn', detail: `server.tls.ciphers enables ${c.what}` }));
  return judged(findings, 'server.tls.ciphers enables only forward-secret AEAD suites (ECDHE/DHE with GCM, CCM or CHACHA20-POLY1305)');
}

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
    source: 'seed 002 transport security ("modern cipher suites"); seed 000 TLS best practices §2',
    fix: 'Keep the default server.tls.ciphers (Mozilla intermediate: ECDHE/DHE key exchange, AEAD suites only), or list only ECDHE/DHE suites with GCM or CHACHA20-POLY1305; never @SECLEVEL=0.',
    refusals: /^server\.tls\.ciphers$/,
    inspect: cipherSuites,
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
    refusals: /^server\.tls\.hsts\.max_age$/,
    inspect({ cfg }) {
      const { enabled, hsts } = cfg.server.tls;
      if (!enabled) return skipped('server.tls.enabled is false');
      if (!hsts.enabled) return judged([warn('server.tls.hsts.enabled is false: browsers may be downgraded to plain http')], '');
      // max-age 0 is a production refusal (config/profiles.ts), reported through `refusals`.
      if (Math.floor(hsts.max_age / 1000) === 0) return judged([], '');
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

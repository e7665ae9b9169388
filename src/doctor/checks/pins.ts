/**
 * routes[].tls.pin_sha256 (docs/tls.md § Pinning upstream keys): pins that apply, each with a backup; and the TLS
 * blocks of the outbound clients (§ TLS for outbound clients).
 */
import { X509Certificate } from 'node:crypto';
import { readFileBounded } from '../../core/files.js';
import { pemBlocks } from '../../tls/certificate.js';
import { decodePin, spkiPin } from '../../tls/index.js';
import { outboundClientTls, usesTls } from '../files.js';
import type { CheckDefinition, Finding } from '../types.js';
import { judged, routeLabel, skipped, warn } from '../outcome.js';

/** Pins of the certificates in a CA file; empty when there is none or it cannot be read (files.* checks say so). */
function caFilePins(path: string | undefined): Set<string> {
  const pins = new Set<string>();
  if (path === undefined) return pins;
  try {
    for (const pem of pemBlocks(readFileBounded(path, 1_048_576).toString('utf8'), 'CERTIFICATE', 256)) pins.add(spkiPin(new X509Certificate(pem)));
  } catch {
    // unreadable or unparsable: reported by the file checks, and the gateway refuses it at start
  }
  return pins;
}

export const upstreamPinsCheck: CheckDefinition = {
  id: 'routes.upstream_pins',
  title: 'Upstream key pins apply and have a backup',
  source: 'seed 000 TLS best practices §3, §5; RFC 7469 §4.3 (backup pins)',
  fix: 'Pin two keys or more per route (the leaf and its issuing CA, or a backup key: gatehouse certs pin).',
  inspect({ cfg }) {
    const pinned = cfg.routes.map((r, i) => ({ r, i })).filter(({ r }) => r.tls.pin_sha256 !== undefined);
    if (pinned.length === 0) return skipped('no route sets tls.pin_sha256');
    const findings: Finding[] = [];
    const notes: string[] = [];
    for (const { r, i } of pinned) {
      const pins = r.tls.pin_sha256 ?? [];
      // Pins on a non-https upstream are refused at load (routeSchema): every pinned route here is https.
      if (pins.length === 1) findings.push(warn(`${routeLabel(r, i)} pins a single key: once the upstream replaces it, the route answers 502 until the configuration changes (add a backup pin)`));
      const inCa = caFilePins(r.tls.ca_file);
      const local = pins.filter((p) => inCa.has(decodePin(p)?.toString('base64') ?? '')).length;
      notes.push(`${routeLabel(r, i)} pins ${pins.length} key${pins.length === 1 ? '' : 's'}${r.tls.ca_file ? ` (${local} of them in ca_file)` : ''}`);
    }
    return judged(findings, notes.join('; '));
  },
};

/** What a client does once its only pinned key is replaced: it fails closed, each in its own way. */
function afterRekey(client: string): string {
  if (client === 'approval webhook') return 'every operation needing the webhook is denied';
  if (client === 'jwt jwks') return 'no new signing key of the issuer can be fetched, and tokens signed with one are refused';
  if (client === 'alert webhook') return 'alerts are dropped after their retries';
  if (client === 'postgres store') return 'the state store is unavailable and requests needing it fail closed (503)';
  return 'audit batches wait in the spool';
}

/**
 * approval.webhook.tls, audit.sinks[].tls, auth.jwt.issuers[].tls, audit.alerts.tls and store.postgres.tls (docs/tls.md
 * § TLS for outbound clients): the production refusals on them, a single pin (no backup), and a block set on a client
 * that speaks plain http.
 */
export const outboundClientsCheck: CheckDefinition = {
  id: 'tls.outbound_clients',
  title: 'Outbound clients (approval webhook, audit sinks, JWKS, alert webhook, PostgreSQL store) verify their servers',
  source: 'seed 000 TLS best practices §1, §3, §5; RFC 7469 §4.3 (backup pins)',
  fix: 'Trust a private CA through the client\'s tls.ca_file (never insecure_skip_verify), keep min_version tls12 or newer, and pin two keys or more (gatehouse certs pin).',
  refusals: /^(approval\.webhook|audit\.sinks\[\]|auth\.jwt\.issuers\[\]|audit\.alerts|store\.postgres)\.tls\./,
  inspect({ cfg }) {
    const clients = outboundClientTls(cfg).filter((c) => c.path !== 'tracing.tls');
    if (clients.length === 0) return skipped('no approval webhook, http audit sink, JWKS issuer, alert webhook or PostgreSQL store is configured');
    const findings: Finding[] = [];
    const notes: string[] = [];
    for (const c of clients) {
      const t = c.tls;
      if (!usesTls(c)) {
        // Pins here are refused at load; a CA or a client certificate would simply never be used.
        const set = (['ca_file', 'cert_file', 'server_name'] as const).filter((k) => t[k] !== undefined);
        const http = c.enabled === undefined;
        if (set.length > 0) findings.push(warn(`${c.path}.${set.join('/')} is set but the ${c.client} connects ${http ? 'over plain http' : 'without TLS'}: the setting has no effect`));
        notes.push(`${c.path}: ${http ? 'plain http' : 'TLS off'}`);
        continue;
      }
      const pins = t.pin_sha256 ?? [];
      if (pins.length === 1) {
        findings.push(warn(`${c.path} pins a single key: once the server replaces it, ${afterRekey(c.client)} until the configuration changes (add a backup pin)`));
      }
      const inCa = caFilePins(t.ca_file);
      const local = pins.filter((p) => inCa.has(decodePin(p)?.toString('base64') ?? '')).length;
      const trust = t.insecure_skip_verify ? 'not verified' : t.ca_file ? 'ca_file' : 'system roots';
      notes.push(`${c.path}: ${trust}${pins.length > 0 ? `, ${pins.length} pin${pins.length === 1 ? '' : 's'}${t.ca_file ? ` (${local} in ca_file)` : ''}` : ''}${t.cert_file ? ', client certificate' : ''}`);
    }
    return judged(findings, notes.join('; '));
  },
};

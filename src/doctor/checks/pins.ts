/** routes[].tls.pin_sha256 (docs/tls.md § Pinning upstream keys): pins that apply, each with a backup. */
import { X509Certificate } from 'node:crypto';
import { readFileBounded } from '../../core/files.js';
import { pemBlocks } from '../../tls/certificate.js';
import { decodePin, spkiPin } from '../../tls/index.js';
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

// A secret across the point where an audit value is cut (strings at 4 KiB, keys at 256, free text at 2 KiB) lost the
// tail its rule needs when the cut came first: `ghp_aB3dE5…[8 more]` kept 29 of a token's 40 characters, a PEM block
// cut mid-line its partial base64. Values are redacted before they are cut.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { buildPayload, type PayloadOptions } from '../../src/audit/record.js';
import type { AuditEvent } from '../../src/core/types.js';
import { createRedactor } from '../../src/redact/index.js';

const r = createRedactor({ isolated: true });
const cow: PayloadOptions = { redact: (v) => r.redactValue(v), redactCopiesOnWrite: true, hmacKeys: new Set(), hmacKey: undefined };
const hmac: PayloadOptions = { redact: (v) => r.redactValue(v), hmacKeys: new Set(['user']), hmacKey: Buffer.alloc(32, 7) };
const TOKEN = 'ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1yZ3b5D';

const payload = (e: Partial<AuditEvent>, opts: PayloadOptions) =>
  buildPayload({ event_type: 'tool.call', result_status: 'error', ...e } as AuditEvent, '2026-01-01T00:00:00.000Z', opts);

/** No 12-character piece of `secret` (past its public prefix) is in `out`. */
function leaks(secret: string, out: string, from = 4): boolean {
  for (let i = from; i + 12 <= secret.length; i++) if (out.includes(secret.slice(i, i + 12))) return true;
  return false;
}

describe('audit values are redacted before they are cut', () => {
  test('a token across the 4 KiB cut of an argument, at every offset, with or without HMAC keys', () => {
    for (const opts of [cow, hmac]) {
      for (let k = 1; k < TOKEN.length; k++) {
        const query = `${'x'.repeat(4096 - k)} ${TOKEN} tail`;
        const out = JSON.stringify(payload({ args: { query, user: 'ana' } }, opts).args);
        assert.ok(!leaks(TOKEN, out), `offset ${k}: ${out.slice(-60)}`);
        assert.match(out, /…\[\d+ more\]/);
      }
    }
  });

  test('a PEM block cut mid-line keeps none of its base64', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const body = pem.split('\n').slice(1, -2);
    for (let off = 30; off < pem.length; off += 97) {
      const file = `${'x'.repeat(4096 - off)}\n${pem}`;
      const out = JSON.stringify(payload({ args: { file } }, cow).args);
      assert.ok(!body.some((line) => out.includes(line.slice(0, 16))), `cut ${off} characters into the block`);
    }
  });

  test('a token across the 256-character cut of a key', () => {
    for (let k = 4; k < TOKEN.length; k += 5) {
      const key = `${'k'.repeat(255 - k)} ${TOKEN}`;
      assert.ok(!leaks(TOKEN, JSON.stringify(payload({ args: { [key]: 1 } }, cow).args)), `offset ${k}`);
    }
  });

  test('free text far longer than its window: what redaction removes earlier cannot pull a cut secret into view', () => {
    // 36 named secrets shrink to a tenth when redacted; the token sits across the old 8 KiB redaction window.
    const pairs = Array.from({ length: 36 }, (_, i) => `password=${String(i).padStart(200, 'p')} `).join('');
    const error = `${pairs}${'y'.repeat(8192 - pairs.length - 20)}${TOKEN}${'z'.repeat(100)}`;
    const out = payload({ error }, cow).error as string;
    assert.ok(!leaks(TOKEN, out), out.slice(-80));
    assert.ok(out.endsWith('…'));
  });
});

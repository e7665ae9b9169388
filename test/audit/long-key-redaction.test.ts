// A key longer than the audit record's 256-character key limit is cut only after the redactor has judged its value
// under the whole name: the word that makes it secret ("…_password") may lie past the cut (finding D).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRedactor } from '../../src/redact/index.js';
import { redactSection } from '../../src/config/schema/redact.js';
import { toAuditValue } from '../../src/audit/canonical.js';
import { openTestLog, readLines, seedEvent, tempDir } from './helpers.js';

const SECRET = 'Hunter2-Sup3rS3cret';
const json = (l: string): Record<string, unknown> => JSON.parse(l) as Record<string, unknown>;
const longKey = (length: number, tail: string, fill = 'x'): string => fill.repeat(length - tail.length) + tail;

describe('audit: long keys', () => {
  const redactor = createRedactor(redactSection.parse({}));
  const redact = (v: unknown): unknown => redactor.redactValue(v);
  const k300 = longKey(300, '_password');
  const k10k = longKey(10_000, 'ApiKey');
  const args = { [k300]: SECRET, nested: { [k10k]: { inner: SECRET } }, [longKey(300, '_note', 'n')]: 'kept', db_password: SECRET };

  // As the gateway opens it (src/gateway/capabilities.ts), then with HMAC keys (the other path), then without the
  // copy-on-write promise.
  const variants: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['copy on write', {}, { redact, redactCopiesOnWrite: true }],
    ['with hmac_keys', { hmac_keys: ['api_token'] }, { redact, hmacKey: 'k'.repeat(32) }],
    ['plain redactor', {}, { redact }],
  ];
  for (const [label, cfg, opts] of variants) {
    test(`a 300-character "…_password" key is written with its value redacted (${label})`, async (t) => {
      const state = tempDir(t);
      const log = await openTestLog(state, cfg, opts);
      await log.emit(seedEvent(0, { args }));
      await log.close();
      const [line] = readLines(join(log.dir, 'audit.jsonl'));
      assert.ok(line && !line.includes(SECRET), 'secret in the audit file');
      const written = json(line)['args'] as Record<string, unknown>;
      assert.equal(written[k300.slice(0, 256)], '[REDACTED]');
      assert.deepEqual(written['nested'], { [k10k.slice(0, 256)]: '[REDACTED]' });
      assert.equal(written[longKey(300, '_note', 'n').slice(0, 256)], 'kept');
      assert.equal(written['db_password'], '[REDACTED]');
    });
  }

  test('toAuditValue: a cut key takes its value as the redactor leaves it under the whole key', () => {
    const state = { digitKeys: false, cut: false };
    const out = toAuditValue({ [k300]: SECRET, [longKey(300, '_note', 'n')]: 'kept' }, undefined, 0, state, redact) as Record<string, unknown>;
    assert.deepEqual(out, { [k300.slice(0, 256)]: '[REDACTED]', [longKey(300, '_note', 'n').slice(0, 256)]: 'kept' });
    assert.equal(state.cut, true);
    // A redactor that does not give an object back is not trusted with the value.
    assert.deepEqual(toAuditValue({ [k300]: SECRET }, undefined, 0, undefined, (v) => (typeof v === 'string' ? v : 'nonsense')), { [k300.slice(0, 256)]: '[REDACTED]' });
    // Without a redactor (the library's identity default) nothing is redacted: the key is only cut.
    assert.deepEqual(toAuditValue({ [k300]: SECRET }), { [k300.slice(0, 256)]: SECRET });
  });
});

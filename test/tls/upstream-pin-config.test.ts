/** routes[].tls.pin_sha256 at config load: what is accepted, and refusals that name the path and what was expected. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.js';
import { decodePin } from '../../src/tls/index.js';
import { configRefusal, TEST_ENV } from '../config/helpers.js';

const pin = (): string => createHash('sha256').update(randomBytes(16)).digest('base64');
const EXPECTED = /expected base64 of a SHA-256 digest \(44 characters ending in "="\), optionally written sha256\/BASE64/;

/** A config with one https route whose tls block is `tls` (YAML flow style). */
const withTls = (tls: string): string => `routes:\n  - name: api\n    prefix: /api\n    upstream: https://billing.internal\n    tls: ${tls}\n`;
const list = (pins: readonly string[]): string => `[${pins.map((p) => JSON.stringify(p)).join(', ')}]`;

test('pins load bare or written sha256/BASE64, as given', async () => {
  const a = pin();
  const b = pin();
  const cfg = await loadConfig({ text: withTls(`{ pin_sha256: ${list([a, `sha256/${b}`])} }`), env: TEST_ENV });
  assert.deepEqual(cfg.routes[0]?.tls.pin_sha256, [a, `sha256/${b}`]);
  assert.deepEqual(decodePin(`sha256/${b}`), Buffer.from(b, 'base64'));
  const none = await loadConfig({ text: withTls('{}'), env: TEST_ENV });
  assert.equal(none.routes[0]?.tls.pin_sha256, undefined);
});

test('entries that are not base64 of 32 bytes are refused, naming the entry', async () => {
  const good = pin();
  const cases: [string, string][] = [
    ['not base64', 'not-base64!not-base64!not-base64!not-base64='],
    ['31 bytes', randomBytes(31).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['SHA-384 length', randomBytes(48).toString('base64')],
    ['hex instead of base64', randomBytes(32).toString('hex')],
    ['base64url alphabet', good.replace(/[+/]/g, '-').replace(/^./, '_')],
    ['no padding', good.slice(0, -1)],
    // 'B' sets one of the two bits past the 256th: decodes to the same bytes, but is another spelling.
    ['non-canonical last character', good.slice(0, 42) + 'B='],
    ["curl's sha256// form", `sha256//${good}`],
    ['HPKP header form', `pin-sha256="${good}"`],
    ['surrounding space', ` ${good}`],
  ];
  for (const [what, bad] of cases) {
    const err = await configRefusal(withTls(`{ pin_sha256: ${list([good, bad])} }`));
    assert.equal(err.problems.length, 1, `${what}: ${err.problems.join('; ')}`);
    assert.match(err.problems[0] as string, /^routes\[0\]\.tls\.pin_sha256\[1\]: /, what);
    assert.match(err.problems[0] as string, EXPECTED, what);
    assert.ok(!(err.problems[0] as string).includes(bad.trim()), `${what}: the value is not echoed`);
  }
});

test('at most 16 pins, at least one, and no pin twice', async () => {
  const seventeen = Array.from({ length: 17 }, pin);
  assert.deepEqual((await configRefusal(withTls(`{ pin_sha256: ${list(seventeen)} }`))).problems, ['routes[0].tls.pin_sha256: at most 16 pins']);
  await assert.doesNotReject(loadConfig({ text: withTls(`{ pin_sha256: ${list(seventeen.slice(1))} }`), env: TEST_ENV }));
  assert.deepEqual((await configRefusal(withTls('{ pin_sha256: [] }'))).problems, ['routes[0].tls.pin_sha256: list at least one pin, or remove pin_sha256']);
  const a = pin();
  assert.deepEqual((await configRefusal(withTls(`{ pin_sha256: ${list([a, pin(), `sha256/${a}`])} }`))).problems, [
    'routes[0].tls.pin_sha256[2]: the same pin twice: a backup pin must be another key',
  ]);
  assert.deepEqual((await configRefusal(withTls('{ pin_sha256: "abc" }'))).problems, ['routes[0].tls.pin_sha256: expected a list']);
});

test('pins with insecure_skip_verify are refused: node would ignore a mismatch without verification', async () => {
  const err = await configRefusal(withTls(`{ insecure_skip_verify: true, pin_sha256: ${list([pin()])} }`));
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0] as string, /^routes\[0\]\.tls\.insecure_skip_verify: pin_sha256 is checked in addition to certificate verification/);
});

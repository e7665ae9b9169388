/**
 * config.inline_secrets looks for a password in every URL-shaped string of the file. It used a pattern whose two
 * starred runs around ":" backtrack against each other: "a://" and 100 000 colons took 5 s, 200 000 took 18 s.
 * urlHasPassword is a parse: these tests hold it to a linear-time pattern on small inputs and run it on 2 MB ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { inlineSecretPaths, urlHasPassword } from '../../src/doctor/checks/config.js';

/**
 * The same rule as a pattern, for comparison only: the user part stops at the first ":" (no ambiguity, so no
 * backtracking between runs), the password holds at least one character before some "@" of the authority.
 */
const REFERENCE = /^[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^/?#\s:]*:[^/?#\s]+@/;

test('simple cases', () => {
  for (const url of ['https://user:pw@host', 'postgres://gh:s3cret@db:5432/gh', 'http://a:b@c@host/x', 'redis://:pw@cache:6379', 'HTTP://u:p@h?x', 'x+y.z-1://u:p@h']) {
    assert.equal(urlHasPassword(url), true, url);
  }
  for (const url of ['https://host', 'https://user@host', 'https://user:@host', 'https://host:8443/a:b@c', 'https://h/?u:p@x', 'https://h#u:p@x', 'https://u :p@h', '1http://u:p@h', '://u:p@h', 'https:/u:p@h', 'mailto:u:p@h', `${'a'.repeat(33)}://u:p@h`, '', 'a://']) {
    assert.equal(urlHasPassword(url), false, url);
  }
});

test('agrees with the reference pattern on generated strings', () => {
  const part = fc.constantFrom('a', 'Z', '1', ':', '@', '/', '?', '#', ' ', '\t', '.', '+', '-', '://', 'https://', 'u:p@');
  fc.assert(
    fc.property(fc.array(part, { maxLength: 24 }), (parts) => {
      const s = parts.join('');
      assert.equal(urlHasPassword(s), REFERENCE.test(s), JSON.stringify(s));
    }),
    { numRuns: 5000 },
  );
});

test('2 MB adversarial strings in a config finish (and say the right thing)', () => {
  const MB2 = 2 << 20;
  const inputs: [string, boolean][] = [
    [`a://${':'.repeat(MB2)}`, false],
    [`a://${':'.repeat(MB2)}@h`, true],
    [`a://${'@'.repeat(MB2)}`, false],
    [`a://${':@'.repeat(MB2 / 2)}`, true],
    [`a://u${'@'.repeat(MB2)}:`, false],
    [':'.repeat(MB2), false],
  ];
  const t0 = performance.now();
  for (const [s, expected] of inputs) {
    assert.equal(urlHasPassword(s), expected);
    assert.deepEqual(inlineSecretPaths({ audit: { alerts: { events: [s] } } }), expected ? ['audit.alerts.events[0]'] : []);
  }
  // The quadratic pattern needed minutes for this; a linear scan takes milliseconds. Generous for a busy machine.
  assert.ok(performance.now() - t0 < 10_000, `took ${Math.round(performance.now() - t0)} ms`);
});

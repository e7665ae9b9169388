// Configured rules and allow entries: checked for linear-time safety before they are compiled.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../../src/core/errors.js';
import { checkPatternSafety, createRedactor, UnsafePatternError } from '../../src/redact/index.js';
import { redactSection } from '../../src/config/schema/redact.js';

const unsafe = (pattern: string) => assert.throws(() => checkPatternSafety(pattern), UnsafePatternError, pattern);
const safe = (pattern: string) => assert.doesNotThrow(() => checkPatternSafety(pattern), pattern);

describe('pattern safety check', () => {
  test('refuses backreferences and lookarounds', () => {
    for (const p of ['(a)\\1', '(?<x>a)\\k<x>', 'a(?=b)', 'a(?!b)', '(?<=a)b', '(?<!a)b']) unsafe(p);
  });

  test('refuses nested quantifiers and repeated alternations', () => {
    for (const p of ['(a+)+', '(a*)*', '(a|a)*', '(a|ab)+', '(\\w+\\s?)*', '(?:x[0-9]+)+y', '(a{1,5}){2,}']) unsafe(p);
  });

  test('refuses repetitions that can meet on the same characters', () => {
    for (const p of ['k=\\d+\\d+', 'k=.*.*', 'k=\\w+\\s*\\w+', 'k=a*a*b', 'x=(\\w+)?\\w+']) unsafe(p);
  });

  test('refuses a repetition that can fail later with no anchor it cannot match', () => {
    for (const p of ['\\w+@', 'a\\w+b', '.*secret', '(?:password|secret)=\\S+;']) unsafe(p);
  });

  test('refuses empty matches, oversized patterns and unknown syntax', () => {
    for (const p of ['a*', '(?:)', 'x'.repeat(513), 'a{1,5000}', '\\p{L}', '[[:alpha:]]', 'a{', 'a**']) unsafe(p);
    assert.throws(() => checkPatternSafety('abc', 'g'), UnsafePatternError);
  });

  test('accepts the shapes redaction rules need', () => {
    for (const p of ['session=([A-Za-z0-9]+)', 'int_[a-f0-9]{32}', 'TICKET-\\d{4,12};', 'secret="[^"\\n]*"', '(?:password|secret)=\\S+', 'AKIA[A-Z0-9]{16}', 'x-token: (?<v>[\\w.-]{8,})', '\\bpin=\\d{4}\\b']) safe(p);
  });
});

describe('configured rules', () => {
  test('an unsafe rule is refused with GH_REDACT_RULE_UNSAFE naming its index, and never compiled', () => {
    assert.throws(
      () => createRedactor({ rules: [{ name: 'ok', pattern: 'int_[a-f0-9]{32}' }, { name: 'bad', pattern: '(a+)+$' }] }),
      (e: unknown) => e instanceof GatehouseError && e.code === 'GH_REDACT_RULE_UNSAFE' && e.message.includes('redact.rules[1]'),
    );
    assert.throws(() => createRedactor({ allow: ['fine', { pattern: '(x|x)*' }] }), (e: unknown) => e instanceof GatehouseError && e.message.includes('redact.allow[1]'));
  });

  test('a rule redacts its match, or only its first group, with its replacement', () => {
    const r = createRedactor({ isolated: true, rules: [{ name: 'int', pattern: 'int_[a-f0-9]{8}' }, { name: 'sess', pattern: 'sess=([a-z0-9]+)', replacement: '***' }] });
    assert.equal(r.redactText('key int_0123abcd sess=abc123 end'), 'key [REDACTED] sess=*** end');
  });

  test('the allow-list keeps a known false positive and nothing else', () => {
    const r = createRedactor({ isolated: true, allow: ['AKIAIOSFODNN7EXAMPLE', { pattern: 'password: changeme-[0-9]{1,4}' }] });
    assert.equal(r.redactText('docs key AKIAIOSFODNN7EXAMPLE, real AKIAZZZZZZZZZZZZZZZZ'), 'docs key AKIAIOSFODNN7EXAMPLE, real [REDACTED]');
    assert.equal(r.redactText('password: changeme-1 password: hunter22'), 'password: changeme-1 password: [REDACTED]');
  });

  test('the allow-list never keeps a known secret', () => {
    const r = createRedactor({ isolated: true, allow: ['held-secret-value'] });
    r.addKnownSecret('held-secret-value');
    assert.equal(r.redactText('x held-secret-value'), 'x [REDACTED]');
  });

  test('the config section: defaults, strict keys, shapes', () => {
    const d = redactSection.parse(undefined);
    assert.deepEqual(d, { rules: [], allow: [], keys: [], fields: [], paths: [], entropy: { enabled: true, min_length: 16, min_bits: 3 } });
    assert.equal(redactSection.safeParse({ rulez: [] }).success, false);
    assert.equal(redactSection.safeParse({ rules: [{ name: 'a b', pattern: 'x' }] }).success, false);
    assert.equal(redactSection.safeParse({ fields: ['a..b'] }).success, false);
    assert.equal(redactSection.safeParse({ fields: ['req.headers["x-y"]', '*.password', 'a[0].b'] }).success, true);
    const cfg = redactSection.parse({ keys: ['x-seal'], entropy: { enabled: false } });
    const r = createRedactor(cfg);
    assert.equal(r.redactText('x-seal=abc signature=9f86d081884c7d659a2feaa0c55ad015'), 'x-seal=[REDACTED] signature=9f86d081884c7d659a2feaa0c55ad015');
  });
});

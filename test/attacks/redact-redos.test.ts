// ReDoS / super-linear time: every built-in rule, every configured-rule shape we accept, fed 1 MB lines of
// near-matches. The one timing bound allowed: generous (2 s per MB; the slowest linear case takes about 0.4 s here,
// a super-linear one minutes). A run over the bound is measured once more and the faster one counts: a busy machine
// can stall one run, never two in a row by a factor of five, and a super-linear scan is slow every time.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, scrubEchoes } from '../../src/redact/index.js';
import { builtinRules } from '../../src/redact/text.js';

const MB = 1 << 20;
const LIMIT_MS = 2000;
const fill = (unit: string) => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);

const redactor = createRedactor({ isolated: true, keys: ['x-session-seal'], paths: ['/srv/vault'] });
redactor.addKnownSecret('KnownSecretValue-1234567890');

function timed(input: string, r: { redactText(s: string): string } = redactor): number {
  const once = () => {
    const t0 = performance.now();
    r.redactText(input);
    return performance.now() - t0;
  };
  const first = once();
  return first < LIMIT_MS ? first : Math.min(first, once());
}

/** Near-matches built from a trigger: the trigger alone, with a body that never completes, with separators. */
function generic(trigger: string): string[] {
  return [fill(trigger), fill(`${trigger}a`), fill(`${trigger}: "`), `${trigger}=${fill('Ab1')}`];
}

/** Hand-made near-misses per rule: the shapes its code walks over. */
const PROBES: Record<string, string[]> = {
  'key-value': [
    fill('key=key='), fill('password=\\"'), fill('"password":"\\'), fill('password: \''), fill('--password '),
    fill('{name: DB_PASSWORD, value'), fill('password is '), fill('a_'), fill('secret_token_key_'), fill('<password>'),
    fill('password=${A'), fill('authorization: Digest '), fill('Cookie: a'), `password=${fill('a')}`, `signature=${fill('Ab3')}`,
    // Authorization: <scheme> token=… (an auth-param list), and escaped quotes inside a double-quoted header.
    fill('Authorization: Token token='), fill('authorization: Bearer a=a'), `Authorization: Token token=${fill('a')}`,
    fill('-H "Authorization: Token token=\\"'), `-H "Authorization: Digest ${fill('\\"')}`,
    // XML elements with a namespace prefix or attributes: start tags that never close, prefixes that never end.
    fill('<wsse:Password '), fill('<a:password a="'), `<password ${fill('a')}`, `<password "${fill('a')}`, fill(':password '),
    `<${fill('a')}:password>x`, fill('<p:secret x=">">'),
    // multipart/form-data parts: headers without the empty line, values without a line end, escaped forms.
    fill('form-data; name="password"\r\n'), fill('name="password"\n\n'), fill('form-data; name="token"\r\nX: y\r\n'),
    `form-data; name="password"\r\n\r\n${fill('a')}`, fill('form-data; name=\\"password\\"\\r\\n\\r\\n'), fill('form-data; name="password"\\n'),
  ],
  bearer: [fill('Bearer '), fill('Bearer realm='), fill('bearer a='), `Bearer ${fill('a')}`, fill('ApiKey ')],
  basic: [fill('Basic '), fill('Basic dXNlcjpw'), `Authorization: Basic ${fill('QUFB')}`],
  'url-credentials': [
    fill('://'), fill('://a:'), fill('://a:b'), `https://${fill('a:')}`, fill('://@'),
    // A bare userinfo (no ":"): judged by its shape, once per authority.
    fill('://aB3@h'), `https://${fill('aB3')}@h`, `https://${fill('x7k2@')}h`, fill('://x7k2mq9plw4r8tz3vb6nd5hc1@h:1'),
  ],
  pem: [
    fill('-----BEGIN CERTIFICATE-----'), fill('-----BEGIN CERTIFICATE----- AAAA '), fill('-----BEGIN X----- Proc-Type: '),
    `-----BEGIN CERTIFICATE-----${fill(' MIIB')}`, `-----BEGIN CERTIFICATE-----\n${fill('A'.repeat(39) + '\n')}`, fill('-----BEGIN A-----\\n'),
  ],
  'der-base64': [fill('MII'), fill('+MII'), fill('MIIa=')],
  'pem-base64': [fill('LS0tLS1CRUdJTi'), fill(' LS0tLS1CRUdJTiA')],
  'file-path': [fill('a/.pem'), fill('/x.key'), fill('.env.'), fill('${A}/keys/'), fill('/etc/secrets/'), fill('C:\\.pem'), fill('GET /a.pem '), fill('/srv/vault')],
  'cli-user': [fill(' -u '), fill(' -u a'), fill('--user=a')],
  'cli-password-flag': [fill('mysql '), fill('mysql -'), fill('login --password-stdin '), fill('echo a | docker login --password-stdin ')],
  jwt: [fill('eyJ'), fill('eyJa.'), fill('eyJaaaaaaaaa.eyJ'), fill('.eyJaaaaaaaaaaaa')],
  'gatehouse-token': [fill('gh1.'), fill('gh1.a.'), fill('gh1.aaaaaaaa.')],
  'gatehouse-api-key': [fill('gh_'), fill('gh_aaaaaaaaaaaaaaaa_'), fill(' gh_a_b')],
  'aws-access-key-id': [fill('AKIA'), fill(' AKIAAAAA')],
  'slack-webhook': [fill('hooks.slack.com/services/'), fill('hooks.slack.com/services/a/')],
  'llm-key': [fill('sk-'), fill(' sk-aaaaaaaaaaaaaaaaaaaaaaa')],
};

describe('every built-in rule runs in linear time on 1 MB of near-matches', () => {
  for (const rule of builtinRules(['x-session-seal'], ['/srv/vault/'])) {
    test(`rule ${rule.id}`, () => {
      const inputs = [...(PROBES[rule.id] ?? []), ...rule.triggers.slice(0, 2).flatMap(generic)];
      for (const input of inputs) {
        const ms = timed(input);
        assert.ok(ms < LIMIT_MS, `${rule.id}: ${ms.toFixed(0)} ms on ${JSON.stringify(input.slice(0, 40))}…`);
      }
    });
  }

  test('known secrets: 1 MB of a known value\'s prefix', () => {
    for (const input of [fill('KnownSecretValue-'), fill('KnownSecretValue-123456789'), fill('K')]) {
      const ms = timed(input);
      assert.ok(ms < LIMIT_MS, `${ms.toFixed(0)} ms`);
    }
  });

  test('escape decoding: 1 MB of "%" or of backslashes around one escape of the other kind', () => {
    // Looking for the next "%" and the next "\\" from every position was quadratic when one kind was rare.
    for (const input of [`${fill('%').slice(6)}\\u0041`, `${fill('\\').slice(6)}%41`, `${fill('\\x').slice(6)}\\u0041`]) {
      const ms = timed(input);
      assert.ok(ms < LIMIT_MS, `${ms.toFixed(0)} ms on ${JSON.stringify(input.slice(0, 12))}…`);
    }
  });

  test('scrubEchoes (response header values): 1 MB of escapes and near-misses of a secret\'s forms', () => {
    const secrets = ['wJalr/K7MDENG+bPxRfiCY=EXAMPLEKEY', 'correct horse battery/staple+1'];
    for (const input of [fill('%2F'), fill('wJalr%2FK7MDENG%2B'), fill('wJalr\\/K7MDENG+'), fill('correct+horse+'), `${fill('%').slice(6)}\\u0041`, fill('\\u002F')]) {
      const t0 = performance.now();
      scrubEchoes(input, secrets);
      const ms = performance.now() - t0;
      assert.ok(ms < LIMIT_MS, `${ms.toFixed(0)} ms on ${JSON.stringify(input.slice(0, 24))}…`);
    }
  });

  test('thousands of known secrets still scan in one pass', () => {
    const many = createRedactor({ isolated: true });
    for (let i = 0; i < 5000; i++) many.addKnownSecret(`tok_${i.toString(36).padStart(6, '0')}_abcdefgh`);
    const input = fill('tok_000001_abcdefg ');
    const ms = timed(input, many);
    assert.ok(ms < LIMIT_MS, `${ms.toFixed(0)} ms`);
    assert.equal(many.redactText(input), input); // near-misses only: nothing to redact
  });
});

describe('accepted configured rules run in linear time', () => {
  const rules = [
    { name: 'session', pattern: 'session=([A-Za-z0-9]+)' },
    { name: 'internal', pattern: 'int_[a-f0-9]{32}' },
    { name: 'ticket', pattern: 'TICKET-\\d{4,12};' },
    { name: 'quoted', pattern: 'secret="[^"\\n]*"', flags: 'i' },
  ];
  const custom = createRedactor({ isolated: true, rules, allow: [{ pattern: 'int_0{32}' }] });
  for (const input of [fill('session='), fill('session=a'), fill('int_'), fill('int_aaaa'), fill('TICKET-1234'), fill('secret="'), `secret="${fill('a')}`]) {
    test(`on ${JSON.stringify(input.slice(0, 24))}…`, () => {
      const ms = timed(input, custom);
      assert.ok(ms < LIMIT_MS, `${ms.toFixed(0)} ms`);
    });
  }
});

describe('file paths: the cost per byte does not grow with the length of a file name', () => {
  // A 4 KB name built from "_token" never ends in a data extension: a backtracking regex rescans it from every
  // "_token" (quadratic in the name, ~1 s per MB here); a linear check costs the same per byte as short names.
  const line = (nameLength: number) => {
    const path = `/tmp/${'_token'.repeat(Math.floor(nameLength / 6))}`;
    return `${path} `.repeat(Math.ceil(MB / (path.length + 1))).slice(0, MB);
  };
  test('1 MB of 4 KB token-file names costs at most a few times 1 MB of 128-byte ones', () => {
    const short = line(128);
    const long = line(4000);
    timed(short);
    const base = Math.min(timed(short), timed(short));
    const ms = Math.min(timed(long), timed(long));
    assert.ok(ms < 4 * base + 100, `${ms.toFixed(0)} ms for long names, ${base.toFixed(0)} ms for short ones`);
  });
});

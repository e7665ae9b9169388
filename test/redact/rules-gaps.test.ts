// Credentials the built-in rules left in place: `Authorization: <scheme> token=…` (Rails token auth), XML password
// elements with a namespace prefix or attributes (WS-Security), multipart/form-data password fields, and a bare
// token as a URL's userinfo. Each with the near-misses it must leave alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor } from '../../src/redact/index.js';

const T = 'Q3k9Xv7LmP2nR8sT4wY6zA1b';
const r = createRedactor({ isolated: true });

function cases(rows: Array<[string, string]>): void {
  for (const [input, expected] of rows) {
    const out = r.redactText(input);
    assert.equal(out, expected, input);
    assert.equal(r.redactText(out), out, `idempotent: ${input}`);
  }
}
const untouched = (rows: string[]) => {
  for (const input of rows) assert.equal(r.redactText(input), input, input);
};

describe('Authorization: <scheme> with an auth-param list (Rails token auth)', () => {
  test('the credential after token= goes, with the rest of the header value', () => {
    cases([
      [`Started GET /api/orders, Authorization: Token token="${T}", email="ops@example.com"`, 'Started GET /api/orders, Authorization: Token [REDACTED]'],
      [`curl -H 'Authorization: Token token=${T}' https://api.example.com/orders`, "curl -H 'Authorization: Token [REDACTED]' https://api.example.com/orders"],
      [`curl -H "Authorization: Token token=\\"${T}\\"" https://api.example.com/orders`, 'curl -H "Authorization: Token [REDACTED]" https://api.example.com/orders'],
      [`headers={"Authorization":"Bearer token=${T}"}`, 'headers={"Authorization":"Bearer [REDACTED]"}'],
      [`Authorization: Bearer token=${T}`, 'Authorization: Bearer [REDACTED]'],
      [`proxy-authorization: Token token=${T}, nonce=abc`, 'proxy-authorization: Token [REDACTED]'],
      [`"msg":"Authorization: Token token=\\"${T}\\"","next":1`, '"msg":"Authorization: Token [REDACTED]","next":1'],
    ]);
  });

  test('token68 padding is still padding: only the credential goes, the text after it stays', () => {
    cases([
      ['Authorization: Basic dXNlcjpwYXNzd29yZA== from 10.0.0.1', 'Authorization: Basic [REDACTED] from 10.0.0.1'],
      ['{"authorization":"Bearer abc123def456=="}', '{"authorization":"Bearer [REDACTED]"}'],
      ["-H 'Authorization: Bearer abc123def456=' -d x", "-H 'Authorization: Bearer [REDACTED]' -d x"],
    ]);
  });

  test('challenges (WWW-Authenticate) hold no credential and stay', () => {
    untouched(['WWW-Authenticate: Bearer realm="example", error="invalid_token"', 'www-authenticate: Token realm="Application"']);
  });
});

describe('XML password elements with a namespace prefix or attributes', () => {
  test('WS-Security and attributed elements lose their text', () => {
    cases([
      [`<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">${T}</wsse:Password>`,
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">[REDACTED]</wsse:Password>'],
      [`<password type="plain">${T}</password>`, '<password type="plain">[REDACTED]</password>'],
      [`<ns1:password>${T}</ns1:password>`, '<ns1:password>[REDACTED]</ns1:password>'],
      [`<db:secret id='1' note="a>b">${T}</db:secret>`, `<db:secret id='1' note="a>b">[REDACTED]</db:secret>`],
      [`"<wsse:Password Type=\\"PasswordText\\">${T}</wsse:Password>"`, '"<wsse:Password Type=\\"PasswordText\\">[REDACTED]</wsse:Password>"'],
    ]);
  });

  test('self-closing and empty elements, other names and closing tags stay', () => {
    untouched([
      '<password type="plain"/>',
      '<wsse:Password Type="PasswordText"></wsse:Password>',
      '<wsse:Username>alice</wsse:Username>',
      '<password-policy min="12">strong</password-policy>',
      '<wsse:UsernameToken wsu:Id="UsernameToken-1">',
      '<input type="password" name="password">',
    ]);
  });
});

describe('multipart/form-data fields named like secrets', () => {
  const part = (name: string, value: string, eol = '\r\n', extra = '') =>
    `--XyZ${eol}Content-Disposition: form-data; name="${name}"${eol}${extra}${eol}${value}${eol}--XyZ--${eol}`;

  test('the value after the part headers goes, in CRLF, LF, with more headers and as a logged string', () => {
    cases([
      [part('password', T), part('password', '[REDACTED]')],
      [part('password', T, '\n'), part('password', '[REDACTED]', '\n')],
      [part('client_secret', 'correct horse battery staple'), part('client_secret', '[REDACTED]')],
      [part('api_token', T, '\r\n', 'Content-Type: text/plain; charset=utf-8\r\n'), part('api_token', '[REDACTED]', '\r\n', 'Content-Type: text/plain; charset=utf-8\r\n')],
      [`Content-Disposition: form-data; name="password"\n\n${T}`, 'Content-Disposition: form-data; name="password"\n\n[REDACTED]'],
      // A multipart body logged as a JSON string, and as a Python bytes repr.
      [`"body":"--XyZ\\r\\nContent-Disposition: form-data; name=\\"password\\"\\r\\n\\r\\n${T}\\r\\n--XyZ--"`, '"body":"--XyZ\\r\\nContent-Disposition: form-data; name=\\"password\\"\\r\\n\\r\\n[REDACTED]\\r\\n--XyZ--"'],
      [`b'--XyZ\\r\\nContent-Disposition: form-data; name="token"\\r\\n\\r\\n${T}\\r\\n--XyZ--'`, `b'--XyZ\\r\\nContent-Disposition: form-data; name="token"\\r\\n\\r\\n[REDACTED]\\r\\n--XyZ--'`],
    ]);
  });

  test('other fields, file names and secret-ish names with a plain value stay', () => {
    untouched([
      part('username', 'alice'),
      part('upload', 'password123', '\r\n', 'Content-Type: text/plain\r\n').replace('name="upload"', 'name="upload"; filename="password.txt"'),
      part('session', 'active'),
      part('password', ''),
      'name="password"\n\nnot multipart',
    ]);
  });
});

describe('a bare token as URL userinfo (no password part)', () => {
  test('a random-looking userinfo goes whole, the host stays', () => {
    cases([
      ['git clone https://abcdefghijklmnopqrstuvwxyz234567abcdefghijklmn2345@dev.azure.com/org/proj/_git/repo', 'git clone https://[REDACTED]@dev.azure.com/org/proj/_git/repo'],
      ['fetch https://x7k2mq9plw4r8tz3vb6nd5hc1@example.com:8443/repo.git', 'fetch https://[REDACTED]@example.com:8443/repo.git'],
      ['GET http://PLANTopaqueUserinfoToken0123456789@127.0.0.1:18448/x', 'GET http://[REDACTED]@127.0.0.1:18448/x'],
    ]);
  });

  test('user names stay', () => {
    untouched([
      'ssh://git@github.com/org/repo.git',
      'https://alice@bitbucket.org/team/repo.git',
      'https://deploy-bot@host:443/x',
      'https://john.doe%40corp.com@host/x',
      'postgres://app_reader@db:5432/app',
      'see https://example.com/@user0123456789abcdef',
    ]);
  });
});

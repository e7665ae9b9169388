// One behaviour per built-in rule: what it redacts, and what it must leave alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor } from '../../src/redact/index.js';

const r = createRedactor({ isolated: true });
const cases = (rows: Array<[string, string]>) => {
  for (const [input, expected] of rows) assert.equal(r.redactText(input), expected, input);
};
const untouched = (rows: string[]) => {
  for (const input of rows) assert.equal(r.redactText(input), input, input);
};

describe('key/value forms', () => {
  test('redacts key: value, key=value, "key": "value", query strings and headers, case-insensitively', () => {
    cases([
      ['{"username":"ana","Password":"p@ss w0rd!"}', '{"username":"ana","Password":"[REDACTED]"}'],
      ["{'client_secret': 'abc123xyz'}", "{'client_secret': '[REDACTED]'}"],
      ['GET /cb?code=ok&access_token=ya-opaque-123&state=x', 'GET /cb?code=ok&access_token=[REDACTED]&state=x'],
      ['X-Api-Key: 1f2e3d4c5b6a', 'X-Api-Key: [REDACTED]'],
      ['refresh_token=def502003a; path=/', 'refresh_token=[REDACTED]; path=/'],
      ['SECRET=abc PWD_HINT=none passwd: letmein', 'SECRET=[REDACTED] PWD_HINT=none passwd: [REDACTED]'],
      ['spring.datasource.password=Sup3r', 'spring.datasource.password=[REDACTED]'],
      [':private_key => "k-123"', ':private_key => "[REDACTED]"'],
      ['<password>hunter2</password>', '<password>[REDACTED]</password>'],
      ['"pin":1234,"name":"x"', '"pin":"[REDACTED]","name":"x"'],
      ['msg="login {\\"user\\":\\"bo\\",\\"password\\":\\"hunter2\\"}"', 'msg="login {\\"user\\":\\"bo\\",\\"password\\":\\"[REDACTED]\\"}"'],
      ['apiKey=abc123&clientSecret=zzz', 'apiKey=[REDACTED]&clientSecret=[REDACTED]'],
      ['deploy --password hunter2 --token=abc', 'deploy --password [REDACTED] --token=[REDACTED]'],
    ]);
  });

  test('keeps the scheme of an Authorization value and redacts parameter schemes to the end of the header', () => {
    cases([
      ['authorization: token 0123456789abcdef', 'authorization: token [REDACTED]'],
      ['Authorization: Digest username="bob", response="6629fae49393a05397450978507c4ef1"', 'Authorization: Digest [REDACTED]'],
      ['"authorization":"opaque-credential"', '"authorization":"[REDACTED]"'],
    ]);
  });

  test('redacts a whole Cookie header', () => {
    cases([['Cookie: _ga=GA1.2.3; sid=s%3Aabc', 'Cookie: [REDACTED]']]);
  });

  test('leaves names that only look secret, empty and null values, masks and redaction markers', () => {
    untouched([
      'password policy updated: minimum length 12',
      'tokenizer loaded 50257 tokens',
      'max_tokens=4096 token_type=Bearer',
      'password_reset_count=3',
      '"password": null, "token": "", "secret": false',
      'password: ********',
      'password: [REDACTED]',
      'key=[CERTIFICATE REDACTED] secret: "[FILE PATH REDACTED]"',
      '"password"=>"[FILTERED]"',
      'PWD=/home/ana/project',
      'Token::new(kind)',
      'nextPageToken=CAUQAA',
      'the bypass=true flag',
    ]);
  });

  test('weak names (signature, session, code …) only when the value looks random', () => {
    cases([
      ['X-Amz-Signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'X-Amz-Signature=[REDACTED]'],
      ['session=Xk29dLq0aZ7mP3rT8vN1', 'session=[REDACTED]'],
    ]);
    untouched(['status_code=200', 'session=started', 'cache_key=user-42', 'idempotency_key=3f1c2b9e-8d7a-4c5b-9e0f-1a2b3c4d5e6f']);
  });

  test('configured keys are sensitive too', () => {
    const c = createRedactor({ isolated: true, keys: ['x-tenant-seal'] });
    assert.equal(c.redactText('X-Tenant-Seal: abc'), 'X-Tenant-Seal: [REDACTED]');
  });
});

describe('auth schemes', () => {
  test('Bearer: redacts the credentials, not the auth-params or the prose', () => {
    cases([
      ['Bearer abc.def-ghi_jkl~mno+/==', 'Bearer [REDACTED]'],
      ['curl -H "Authorization: Bearer abc123" https://api', 'curl -H "Authorization: Bearer [REDACTED]" https://api'],
      ['authorization=Bearer%20abc123def', 'authorization=Bearer%20[REDACTED]'],
    ]);
    untouched(['WWW-Authenticate: Bearer realm="gatehouse", error="invalid_token"', 'Bearer token required', 'missing bearer token', 'bearer authentication failed']);
  });

  test('Basic: base64 "user:pass" anywhere, anything in an Authorization header; not the word', () => {
    cases([['sent Basic dXNlcjpwYXNz', 'sent Basic [REDACTED]']]);
    untouched(['Basic setup complete', 'Basic ABCDEFGH', 'using Basic auth']);
  });
});

describe('certificates and keys', () => {
  const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB';
  test('PEM blocks of any label, with newlines, escapes or spaces', () => {
    cases([
      [`-----BEGIN PRIVATE KEY-----\n${body}\nwIDAQAB\n-----END PRIVATE KEY-----`, '[CERTIFICATE REDACTED]'],
      [`"key":"-----BEGIN RSA PRIVATE KEY-----\\n${body}\\n-----END RSA PRIVATE KEY-----\\n"`, '"key":"[CERTIFICATE REDACTED]\\n"'],
      [`x -----BEGIN CERTIFICATE----- ${body} -----END CERTIFICATE----- y`, 'x [CERTIFICATE REDACTED] y'],
      [`-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B2C3D\n\n${body}\n-----END EC PRIVATE KEY-----`, '[CERTIFICATE REDACTED]'],
    ]);
  });

  test('a truncated block is redacted to the end of its base64, and the next line stays', () => {
    cases([[`-----BEGIN CERTIFICATE-----\n${body}\n${body}\nINFO next request`, '[CERTIFICATE REDACTED]\nINFO next request']]);
  });

  test('bare DER in base64 and base64 of a PEM file', () => {
    cases([
      [`ca=${body}${body}`, 'ca=[CERTIFICATE REDACTED]'],
      ['tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJzekNDQVZtZ0F3SUJBZ0lVQ2dNOUxx', 'tls.crt: [CERTIFICATE REDACTED]'],
    ]);
  });
});

describe('file paths', () => {
  test('key, certificate, secret and token files', () => {
    cases([
      ['open /home/ana/.ssh/id_ed25519: permission denied', 'open [FILE PATH REDACTED]: permission denied'],
      ['AWS_SHARED_CREDENTIALS_FILE=~/.aws/credentials', 'AWS_SHARED_CREDENTIALS_FILE=[FILE PATH REDACTED]'],
      ['read /var/run/secrets/kubernetes.io/serviceaccount/token', 'read [FILE PATH REDACTED]'],
      ['loading C:\\certs\\client.pfx', 'loading [FILE PATH REDACTED]'],
      ['using ca.pem.', 'using [FILE PATH REDACTED].'],
      ['env loaded from /srv/app/.env', 'env loaded from [FILE PATH REDACTED]'],
      ['key_file: /etc/gatehouse/tls/server.key', 'key_file: [FILE PATH REDACTED]'],
    ]);
  });

  test('configured directories', () => {
    const c = createRedactor({ isolated: true, paths: ['/srv/vault-agent'] });
    assert.equal(c.redactText('wrote /srv/vault-agent/out/db.json'), 'wrote [FILE PATH REDACTED]');
  });

  test('URLs, URL paths and ordinary files stay', () => {
    untouched([
      'GET https://letsencrypt.org/certs/isrgrootx1.pem 200',
      'GET /api/v1/secrets/db-creds 404',
      'event.key pressed',
      'wrote /var/log/app/access.log',
      '/private/var/folders/xy/T/tmp123',
      '.env.example copied',
    ]);
  });
});

describe('URL credentials', () => {
  test('any scheme; the password goes, user and host stay', () => {
    cases([
      ['DATABASE_URL=postgres://app:S3cr3t!@db:5432/app', 'DATABASE_URL=postgres://app:[REDACTED]@db:5432/app'],
      ['redis://:hunter22@cache:6379/0', 'redis://:[REDACTED]@cache:6379/0'],
      ['mongodb+srv://svc:p%40ss@cluster0.mongodb.net/db', 'mongodb+srv://svc:[REDACTED]@cluster0.mongodb.net/db'],
    ]);
    untouched(['ssh://git@github.com/org/repo.git', 'https://example.com/a:b@c', 'see https://example.com:8443/path']);
  });
});

describe('command lines', () => {
  test('curl -u, mysql -p, sshpass -p, docker login -p', () => {
    cases([
      ['curl -u admin:s3cret https://x', 'curl -u admin:[REDACTED] https://x'],
      ['mysql -h db -u root -pS3cret app', 'mysql -h db -u root -p[REDACTED] app'],
      ['sshpass -p hunter2 ssh pi@10.0.0.5', 'sshpass -p [REDACTED] ssh pi@10.0.0.5'],
      ['docker login -u bot -p dckr_pat_abc registry.example.com', 'docker login -u bot -p [REDACTED] registry.example.com'],
    ]);
    untouched(['mysql -u root -p app', 'docker run -p 8080:80 nginx', 'curl -u alice https://x']);
  });
});

describe('token formats without a key name', () => {
  test('each provider format', () => {
    cases([
      ['jwt eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJ1c2VyIiwiZXhwIjoxfQ.sig-part_1', 'jwt [REDACTED]'],
      ['unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyMTIzIn0.', 'unsigned [REDACTED]'],
      ['t=gh1.k2025.eyJzdWIiOiJhZ2VudCJ9.Zm9vYmFyYmF6cXV4cXV1eGZvb2Jhcg', 't=[REDACTED]'],
      ['key gh_AbCdEf0123456789_Xk29dLq0aZ7mP3rT8vN1Yw', 'key [REDACTED]'],
      ['key gh_AbCdEf0123456789_p@ss!w0rd#x ok', 'key [REDACTED] ok'],
      ['id AKIAIOSFODNN7EXAMPLE,', 'id [REDACTED],'],
      ['ghp_1A2b3C4d5E6f7G8h9I0jKlMnOpQrStUvWxYz', '[REDACTED]'],
      ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', '[REDACTED]'],
      ['glpat-xY3zW9vU8tS7rQ6pO5nM', '[REDACTED]'],
      ['xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', '[REDACTED]'],
      ['sk_live_4eC39HqLyjWDarjtT1zdp7dc rk_test_51HxYzAbCdEfGhIjKl', '[REDACTED] [REDACTED]'],
      ['AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY', '[REDACTED]'],
      ['sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zB9dF1hJ3lN5pR7t', '[REDACTED]'],
      ['sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf9Ed8Cb7Aa', '[REDACTED]'],
      ['npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8', '[REDACTED]'],
      ['https://hooks.slack.com/services/T0001/B0002/XXXXxxxxYYYYyyyy', 'https://hooks.slack.com/services/[REDACTED]'],
    ]);
  });

  test('near-misses stay: words, ids, hashes, kebab-case', () => {
    untouched([
      'task-scheduler-worker-pool-size-increase',
      'sk-learn 1.4.2',
      'commit 3f786850e387550fdab836ed7e6dc881de23001b',
      'request 550e8400-e29b-41d4-a716-446655440000 done',
      'ghp_short',
      'AKIAIOSFODNN7EXAMPLEXTRA',
      'gh_pages_deploy_enabled',
      'eyJustAWord here',
    ]);
  });
});

/** Config-only checks of approvals, audit, limits, redaction, the secrets store and the config file: each passes and each warns or fails. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inlineSecretPaths } from '../../src/doctor/checks/config.js';
import { checkOf, tempDir } from './helpers.js';

test('critical tools with approval.mode auto and no webhook have no approver: warns naming them', async () => {
  const c = await checkOf('approval.approver', {});
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /no approver configured for tool install_package, tool pull_docker_image, tool update_docker_container, tool http_request_test/);
  const queued = await checkOf('approval.approver', { approval: { mode: 'queue' } });
  assert.equal(queued.status, 'pass');
  assert.match(queued.detail, /tool install_package → queue/);
});

test('a per-risk or per-tool mode is what the gate uses: critical to the queue leaves only http_request_test unanswered', async () => {
  const c = await checkOf('approval.approver', { approval: { modes: { critical: 'queue' } } });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /no approver configured for tool http_request_test \(/);
  const perTool = await checkOf('approval.approver', { approval: { modes: { critical: 'queue' }, tools: { http_request_test: 'deny' } } });
  assert.equal(perTool.status, 'pass', perTool.detail);
});

test('mode webhook without a webhook url fails (the gateway would refuse to start)', async () => {
  const c = await checkOf('approval.approver', { approval: { mode: 'webhook' } });
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /approval mode webhook is set but approval\.webhook\.url is not/);
});

test('approval.require_for without critical warns, naming the critical operations that skip approval', async () => {
  const c = await checkOf('approval.critical_required', { approval: { require_for: ['high'] }, authz: { default_tools: 'none', tools: { wipe_disk: { scopes: ['admin'], risk_level: 'critical' } } } });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /tool wipe_disk run without approval/);
  assert.equal((await checkOf('approval.critical_required', {})).status, 'pass');
});

test('audit.remote_sink warns with only the local file (seed 001: send audit logs to SIEM); a syslog sink passes', async () => {
  const local = await checkOf('audit.remote_sink', {});
  assert.equal(local.status, 'warn');
  assert.match(local.source, /Send audit logs to SIEM/);
  assert.equal((await checkOf('audit.remote_sink', { audit: { sinks: [{ type: 'syslog', transport: 'tls', host: 'siem.internal' }] } })).status, 'pass');
  assert.equal((await checkOf('audit.remote_sink', { audit: { enabled: false } }, { profile: 'development' })).status, 'skip');
});

test('audit.sink_transport warns for syslog over udp and http to another host; tls and https pass', async () => {
  const c = await checkOf('audit.sink_transport', { audit: { sinks: [{ type: 'syslog', transport: 'udp', host: 'siem.internal' }, { type: 'http', url: 'http://collector.internal/ingest' }] } });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /audit\.sinks\[0\] sends syslog over udp to siem\.internal/);
  assert.match(c.detail, /audit\.sinks\[1\] posts over plain http to collector\.internal/);
  const fine = await checkOf('audit.sink_transport', { audit: { sinks: [{ type: 'syslog', transport: 'tls', host: 'siem.internal' }, { type: 'http', url: 'https://collector.internal/ingest' }, { type: 'syslog', host: '127.0.0.1' }] } });
  assert.equal(fine.status, 'pass');
});

test('audit.on_failure continue warns; closed passes', async () => {
  assert.equal((await checkOf('audit.on_failure', { audit: { on_failure: 'continue' } })).status, 'warn');
  assert.equal((await checkOf('audit.on_failure', {})).status, 'pass');
});

test('audit.alerts off warns; on with a webhook passes; on without a webhook warns', async () => {
  assert.equal((await checkOf('audit.alerts', {})).status, 'warn');
  assert.equal((await checkOf('audit.alerts', { audit: { alerts: { enabled: true, webhook_url: 'https://alerts.internal/hook' } } })).status, 'pass');
  const nowhere = await checkOf('audit.alerts', { audit: { alerts: { enabled: true } } });
  assert.equal(nowhere.status, 'warn');
  assert.match(nowhere.detail, /webhook_url is not set/);
});

describe('audit.checkpoint_key with real key files', () => {
  const dir = tempDir();
  after(() => dir.remove());
  const writeKey = (name: string, pem: string | Buffer, mode = 0o600): string => {
    const f = join(dir.path, name);
    writeFileSync(f, pem);
    chmodSync(f, mode);
    return f;
  };

  test('a public_key_file that is not the signing key\'s other half fails; the right one passes', async () => {
    const signing = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const priv = writeKey('signing.key', signing.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const wrongPub = writeKey('wrong.pub', other.publicKey.export({ type: 'spki', format: 'pem' }), 0o644);
    const rightPub = writeKey('right.pub', signing.publicKey.export({ type: 'spki', format: 'pem' }), 0o644);
    const wrong = await checkOf('audit.checkpoint_key', { audit: { checkpoint: { private_key_file: priv, public_key_file: wrongPub } } });
    assert.equal(wrong.status, 'fail');
    assert.match(wrong.detail, /audit\.checkpoint\.public_key_file is not the public half of audit\.checkpoint\.private_key_file/);
    const right = await checkOf('audit.checkpoint_key', { audit: { checkpoint: { private_key_file: priv, public_key_file: rightPub } } });
    assert.equal(right.status, 'pass', right.detail);
  });

  test('a signing key that is not Ed25519 fails', async () => {
    const rsa = writeKey('rsa.key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const c = await checkOf('audit.checkpoint_key', { audit: { checkpoint: { private_key_file: rsa } } });
    assert.equal(c.status, 'fail');
    assert.equal(c.detail, 'audit.checkpoint.private_key_file is not an Ed25519 key');
  });

  test('a signing key given in private_key_env is read from the environment given', async () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const c = await checkOf('audit.checkpoint_key', { audit: { checkpoint: { private_key_env: 'AUDIT_SIGNING_KEY' } } }, { env: { AUDIT_SIGNING_KEY: pem } });
    assert.equal(c.status, 'pass');
    assert.match(c.detail, /signed with audit\.checkpoint\.private_key_env \(AUDIT_SIGNING_KEY\)/);
    assert.ok(!c.detail.includes('PRIVATE KEY'));
    const bad = await checkOf('audit.checkpoint_key', { audit: { checkpoint: { private_key_env: 'AUDIT_SIGNING_KEY' } } }, { env: { AUDIT_SIGNING_KEY: 'garbage' } });
    assert.equal(bad.status, 'fail');
  });
});

test('limits: off warns; no rate rule warns; a per-token rule, a connection rate and the lockout pass', async () => {
  assert.equal((await checkOf('limits.enabled', { limits: { enabled: false } })).status, 'warn');
  assert.equal((await checkOf('limits.enabled', {})).status, 'pass');
  const none = await checkOf('limits.rates', {});
  assert.equal(none.status, 'warn');
  assert.match(none.detail, /limits\.rates is empty/);
  const shared = await checkOf('limits.rates', { limits: { rates: [{ name: 'global', per: [], limit: '1000/sec' }] } });
  assert.equal(shared.status, 'warn');
  assert.match(shared.detail, /no rule in limits\.rates counts per token, principal or ip/);
  assert.equal((await checkOf('limits.rates', { limits: { rates: [{ name: 'per-token', per: 'token', limit: '100/min' }] } })).status, 'pass');
  assert.equal((await checkOf('limits.rates', { limits: { enabled: false } })).status, 'skip');
  assert.equal((await checkOf('limits.connection_rate', {})).status, 'warn');
  assert.equal((await checkOf('limits.connection_rate', { limits: { connection_rate_limit: '10/sec' } })).status, 'pass');
  assert.equal((await checkOf('limits.lockout', { limits: { lockout: { enabled: false } } })).status, 'warn');
  assert.equal((await checkOf('limits.lockout', {})).status, 'pass');
});

test('redact.effective: an allow pattern that swallows secrets warns; entropy off warns; the defaults pass', async () => {
  const allow = await checkOf('redact.effective', { redact: { allow: [{ pattern: '[A-Za-z0-9_=:. -]+' }] } });
  assert.equal(allow.status, 'warn');
  assert.match(allow.detail, /leaves a bearer token, a password, an API key/);
  assert.match(allow.detail, /look at redact\.allow/);
  const entropy = await checkOf('redact.effective', { redact: { entropy: { enabled: false } } });
  assert.equal(entropy.status, 'warn');
  assert.match(entropy.detail, /a high-entropy session= value .*redact\.entropy\.enabled is false/);
  assert.equal((await checkOf('redact.effective', {})).status, 'pass');
});

test('redact.effective fails when a configured pattern is unsafe, naming it', async () => {
  const c = await checkOf('redact.effective', { redact: { rules: [{ name: 'bad', pattern: '(a+)+$' }] } });
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /redact\.rules\[0\]/);
});

test('config.env_vars warns for a variable that is not set, by setting and name; set ones pass', async () => {
  const raw = { encryption: { enabled: true, key_env: 'DATA_KEY' }, routes: [{ prefix: '/a', upstream: 'https://a.internal', upstream_auth: { bearer: 'env:A_TOKEN' } }] };
  const missing = await checkOf('config.env_vars', raw, { env: { DATA_KEY: 'k' } });
  assert.equal(missing.status, 'warn');
  assert.equal(missing.detail, 'routes[0].upstream_auth.bearer names A_TOKEN, which is not set in this environment');
  assert.equal((await checkOf('config.env_vars', raw, { env: { DATA_KEY: 'k', A_TOKEN: 't' } })).status, 'pass');
  assert.equal((await checkOf('config.env_vars', {})).status, 'skip');
});

test('secrets.master_key: a secret: reference with no master key fails in production, warns in development', async () => {
  const raw = { routes: [{ prefix: '/a', upstream: 'https://a.internal', upstream_auth: { headers: { 'X-Api-Key': 'secret:inventory_key' } } }] };
  const prod = await checkOf('secrets.master_key', raw);
  assert.equal(prod.status, 'fail');
  assert.match(prod.detail, /routes\[0\]\.upstream_auth\.headers\.X-Api-Key read the secrets store.*production refuses to open the store/);
  assert.equal((await checkOf('secrets.master_key', raw, { profile: 'development' })).status, 'warn');
  assert.equal((await checkOf('secrets.master_key', raw, { env: { SECRETS_MASTER_KEY: 'a'.repeat(64) } })).status, 'pass');
  assert.equal((await checkOf('secrets.master_key', {})).status, 'skip');
});

test('inline secrets are found by path; ${VAR} references and upstream_auth references are not', () => {
  const paths = inlineSecretPaths({
    auth: {
      token: { secret: 'literal-secret-value', previous_secrets: ['${OLD}', 'old-literal'] },
      basic: { users: [{ name: 'ops', password: 'pw-literal' }, { name: 'ci', password_hash: '$argon2id$v=19$m=65536,t=3,p=4$abc' }] },
      header: { headers: { 'X-API-Key': '${HEADER_KEY}', 'X-Client-Code': 'code-literal' } },
    },
    approval: { webhook: { secret: '${WEBHOOK_SECRET}' } },
    routes: [
      { upstream: 'https://api.internal', upstream_auth: { bearer: 'secret:api', headers: { 'X-Key': 'env:KEY' } } },
      { upstream: 'http://svc:url-password@10.0.0.7' },
      { upstream: 'http://svc:${UPSTREAM_PASSWORD}@10.0.0.8' },
    ],
  });
  assert.deepEqual(paths, ['auth.token.secret', 'auth.token.previous_secrets[1]', 'auth.basic.users[0].password', 'auth.header.headers.X-Client-Code', 'routes[1].upstream']);
});

describe('config.inline_secrets with a real configuration file', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('a literal secret warns; in a file others can read it fails; references pass', async () => {
    const file = join(dir.path, 'gatehouse.yaml');
    writeFileSync(file, 'auth:\n  token:\n    secret: this-is-a-literal-token-secret-0123456789\n');
    chmodSync(file, 0o644);
    const world = await checkOf('config.inline_secrets', {}, { configFile: file });
    assert.equal(world.status, 'fail');
    assert.match(world.detail, /credentials written into the configuration file at auth\.token\.secret/);
    assert.match(world.detail, /the configuration file is readable by others \(mode 0644\) and holds credentials/);
    assert.ok(!world.detail.includes('this-is-a-literal'));
    chmodSync(file, 0o600);
    assert.equal((await checkOf('config.inline_secrets', {}, { configFile: file })).status, 'warn');
    writeFileSync(file, 'auth:\n  token:\n    secret: ${TOKEN_SECRET}\n');
    assert.equal((await checkOf('config.inline_secrets', {}, { configFile: file })).status, 'pass');
    assert.equal((await checkOf('config.inline_secrets', {})).status, 'skip');
  });
});

test('secrets.master_key counts an oauth2 client secret and an identity signing key read from the store', async () => {
  const oauth = { routes: [{ prefix: '/a', upstream: 'https://a.internal', upstream_auth: { oauth2: { token_url: 'https://idp.internal/token', client_id: 'gh', client_secret: 'secret:oauth_client' } } }] };
  assert.match((await checkOf('secrets.master_key', oauth)).detail, /routes\[0\]\.upstream_auth\.oauth2\.client_secret/);
  const signed = { routes: [{ prefix: '/a', upstream: 'https://a.internal', identity_headers: { sign: 'secret:identity_key' } }] };
  assert.match((await checkOf('secrets.master_key', signed)).detail, /routes\[0\]\.identity_headers\.sign/);
});

test('routes.identity_signed: unsigned identity headers to an upstream off loopback warn; signed, or to loopback, pass', async () => {
  const route = (upstream: string, extra: Record<string, unknown> = {}) => ({ routes: [{ name: 'admin', prefix: '/admin', upstream, identity_headers: { ...extra } }] });
  const unsigned = await checkOf('routes.identity_signed', route('https://admin.internal:9000'));
  assert.equal(unsigned.status, 'warn');
  assert.match(unsigned.detail, /routes\[0\] \(admin\) sends unsigned identity headers to admin\.internal/);
  assert.equal((await checkOf('routes.identity_signed', route('https://admin.internal:9000', { sign: 'env:IDENTITY_KEY' }))).status, 'pass');
  assert.equal((await checkOf('routes.identity_signed', route('http://127.0.0.1:9000'))).status, 'pass');
  assert.equal((await checkOf('routes.identity_signed', {})).status, 'skip');
});

test('client.tls: insecure_skip_verify, legacy TLS or plain http off loopback fail in production and warn in development', async () => {
  const bad = { client: { url: 'http://logs.example.com', security: { tls: { insecure_skip_verify: true, min_version: 'tls11', insecure_allow_legacy_tls: true } } } };
  const prod = await checkOf('client.tls', bad);
  assert.equal(prod.status, 'fail');
  for (const what of [/insecure_skip_verify/, /min_version is tls11/, /client\.url is plain http/]) assert.match(prod.detail, what);
  assert.equal((await checkOf('client.tls', bad, { profile: 'development' })).status, 'warn');
  assert.equal((await checkOf('client.tls', { client: { url: 'https://logs.example.com' } })).status, 'pass');
});

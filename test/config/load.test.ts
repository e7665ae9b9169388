import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, redactConfigForDisplay } from '../../src/config/index.js';
import { configRefusal, TEST_ENV } from './helpers.js';

const env = TEST_ENV;

const problemsOf = configRefusal;

test('the embedded default is a development config with the demo routes on 127.0.0.1:8443', async () => {
  const cfg = await loadConfig({ env });
  assert.equal(cfg.profile, 'development');
  assert.equal(cfg.server.listen, '127.0.0.1:8443');
  assert.equal(cfg.server.tls.enabled, true);
  assert.equal(cfg.server.tls.min_version, 'tls12');
  assert.deepEqual(cfg.routes.map((r) => [r.prefix, r.upstream, r.kind]), [['/echo', 'demo:echo', 'http'], ['/mcp', 'demo:mcp', 'mcp']]);
  assert.equal(cfg.state_dir, '/tmp/gh-test-home');
  assert.equal(cfg.store.path, '/tmp/gh-test-home/state.db');
});

test('an unknown key names its path and the nearest valid key', async () => {
  const err = await problemsOf('server:\n  tls:\n    min_verison: tls13\n');
  assert.equal(err.code, 'GH_CONFIG_INVALID');
  assert.deepEqual(err.problems, ['server.tls.min_verison: unknown key (did you mean "min_version"?)']);
});

test('a wrong type names the path and what was expected', async () => {
  const err = await problemsOf('server:\n  trusted_proxies: 10.0.0.1\n');
  assert.deepEqual(err.problems, ['server.trusted_proxies: expected a list']);
  const err2 = await problemsOf('server:\n  tls:\n    client_auth: maybe\n');
  assert.match(err2.problems[0] as string, /^server\.tls\.client_auth: /);
});

test('one line per problem', async () => {
  const err = await problemsOf('nope: 1\nserver:\n  listen: 5\n  limits:\n    max_body_size: lots\n');
  assert.equal(err.problems.length, 3);
});

test('${VAR} and ${VAR:-default} are interpolated (seed 000)', async () => {
  const cfg = await loadConfig({ text: 'server:\n  listen: "${HOST:-127.0.0.1}:${PORT}"\n', env: { ...env, PORT: '9443' } });
  assert.equal(cfg.server.listen, '127.0.0.1:9443');
  const escaped = await loadConfig({ text: 'server:\n  listen: "$${X}"\n', env });
  assert.equal(escaped.server.listen, '${X}');
});

test('a missing variable is an error naming the field, never an empty string', async () => {
  const err = await problemsOf('server:\n  listen: "${NO_SUCH_VAR_XYZ}"\n');
  assert.equal(err.code, 'GH_CONFIG_MISSING_VAR');
  assert.deepEqual(err.problems, ['server.listen: environment variable NO_SUCH_VAR_XYZ is not set (use ${NO_SUCH_VAR_XYZ:-default} for a default)']);
});

test('a *_file that does not exist is an error naming the field', async () => {
  const err = await problemsOf('server:\n  tls:\n    cert_file: /nonexistent/cert.pem\n');
  assert.equal(err.code, 'GH_CONFIG_FILE_UNREADABLE');
  assert.deepEqual(err.problems, ['server.tls.cert_file: file does not exist']);
});

test('relative *_file paths resolve against the config file directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), 'x');
    writeFileSync(join(dir, 'g.yaml'), 'server:\n  tls:\n    ca_file: ca.pem\n');
    const cfg = await loadConfig({ path: join(dir, 'g.yaml'), env });
    assert.equal(cfg.server.tls.ca_file, join(dir, 'ca.pem'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('relative *_file paths inside a union (an http audit sink\'s tls block) resolve too, and a missing one is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), 'x');
    const sink = (ca: string) => `audit:\n  sinks:\n    - type: http\n      url: https://siem.internal/ingest\n      tls:\n        ca_file: ${ca}\n`;
    writeFileSync(join(dir, 'g.yaml'), sink('ca.pem'));
    const cfg = await loadConfig({ path: join(dir, 'g.yaml'), env });
    const s = cfg.audit.sinks[0];
    assert.equal(s?.type === 'http' ? s.tls.ca_file : undefined, join(dir, 'ca.pem'));
    writeFileSync(join(dir, 'bad.yaml'), sink('missing.pem'));
    const err = await loadConfig({ path: join(dir, 'bad.yaml'), env }).then(() => undefined, (e: { problems?: string[] }) => e);
    assert.deepEqual(err?.problems, ['audit.sinks[0].tls.ca_file: file does not exist']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a duplicated key is refused rather than silently overridden', async () => {
  const err = await problemsOf('server:\n  listen: a\n  listen: b\n');
  assert.match(err.problems[0] as string, /unique|duplicate/i);
});

test('production refuses the configuration-level dev-only settings and names each one', async () => {
  const err = await problemsOf('demo:\n  enabled: true\nserver:\n  admin_cors_origins: ["*"]\n', { GATEHOUSE_ENV: 'production' });
  assert.equal(err.code, 'GH_CONFIG_PRODUCTION_REFUSED');
  const text = err.problems.join('\n');
  assert.match(text, /wildcard CORS/);
  assert.match(text, /demo\.enabled/);
});

test('ENV=production is honoured as the production profile (seed 003)', async () => {
  const err = await problemsOf('demo: { enabled: true }', { ENV: 'production' });
  assert.equal(err.code, 'GH_CONFIG_PRODUCTION_REFUSED');
});

test('config display redacts secrets by key name and keeps file paths', () => {
  const shown = redactConfigForDisplay({ auth: { token: { secret: 's3cr3t-value', secret_file: '/etc/gh/secret' } }, x: { password: 'p' } }) as {
    auth: { token: { secret: string; secret_file: string } };
    x: { password: string };
  };
  assert.equal(shown.auth.token.secret, '[REDACTED]');
  assert.equal(shown.auth.token.secret_file, '/etc/gh/secret');
  assert.equal(shown.x.password, '[REDACTED]');
});

test('an MCP route cannot be end_to_end: its tool policy reads the JSON-RPC body', async () => {
  const err = await problemsOf('routes:\n  - name: tools\n    prefix: /mcp\n    upstream: http://127.0.0.1:9000\n    kind: mcp\n    end_to_end: true\n');
  assert.equal(err.code, 'GH_CONFIG_INVALID');
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0] as string, /^routes\[0\]\.end_to_end: an MCP route's tool policy reads the JSON-RPC body/);
  const ok = await loadConfig({ env, text: 'routes:\n  - name: stream\n    prefix: /s\n    upstream: http://127.0.0.1:9000\n    end_to_end: true\n' }).catch((e: unknown) => e);
  assert.ok(!(ok instanceof Error), String(ok));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { runCliProcess, startServe } from '../helpers/process.js';

const rand = (n = 18) => randomBytes(n).toString('base64url').replace(/[-_]/g, 'x');

/** Every file under dir, decompressed when gzipped. */
function allFiles(dir: string): Array<{ path: string; text: string }> {
  const out: Array<{ path: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...allFiles(p));
    else {
      const raw = readFileSync(p);
      out.push({ path: p, text: name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8') });
    }
  }
  return out;
}

test('secrets sent through the gateway never appear in anything the gateway writes', async () => {
  const home = mkdtempSync(join(tmpdir(), 'gh-leak-'));
  const cfgPath = join(home, 'gatehouse.yaml');
  writeFileSync(
    cfgPath,
    [
      'demo:',
      '  enabled: true',
      'log:',
      `  file: ${join(home, 'logs', 'gatehouse.log')}`,
      '  level: debug',
      'routes:',
      '  - { name: echo, prefix: /echo, upstream: "demo:echo" }',
      '  - { name: mcp, prefix: /mcp, upstream: "demo:mcp", kind: mcp }',
      'authz:',
      '  routes:',
      '    - { path: "/echo/*", scopes: [system:read] }',
      '',
    ].join('\n'),
  );
  const env = { GATEHOUSE_HOME: home };
  const minted = await runCliProcess(['token', 'mint', '--config', cfgPath, '--agent', 'leak-test', '--scopes', 'readonly', '--ttl', '1h'], env);
  assert.equal(minted.code, 0, minted.stderr);
  const token = minted.stdout.trim();
  const gw = await startServe(['--config', cfgPath, '--listen', '127.0.0.1:0'], env);
  const ca = readFileSync(join(home, 'tls', 'ca.crt'));
  const dispatcher = new Agent({ connect: { ca } });
  const base = `https://localhost:${gw.port}`;

  const secrets = {
    token,
    forgedToken: `gh1.${rand(40)}.${rand(32)}`,
    queryApiKey: `qk_${rand()}`,
    queryPassword: `qp_${rand()}`,
    basicPassword: `bp_${rand()}`,
    bodyPassword: `bodypw_${rand()}`,
    bodyClientSecret: `cs_${rand()}`,
    mcpApiKey: `sk-${rand(24)}`,
    mcpGithubToken: `ghp_${rand(27).slice(0, 36)}`,
    upstreamAws: `AKIA${randomBytes(8).toString('hex').toUpperCase().slice(0, 16)}`,
    upstreamPassword: `up_${rand()}`,
  };
  const responses: string[] = [];
  const send = async (path: string, init: Parameters<typeof request>[1] = {}) => {
    const res = await request(`${base}${path}`, { dispatcher, ...init });
    const body = await res.body.text();
    return { status: res.statusCode, body, headers: JSON.stringify(res.headers) };
  };
  try {
    // A valid token with secrets in the query string (forwarded to the echo upstream, which reflects them by design).
    const ok = await send(`/echo/hello?api_key=${secrets.queryApiKey}&password=${secrets.queryPassword}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    // The secrets really travelled: the echo upstream (not the gateway) reflects the query it received.
    assert.ok(ok.body.includes(secrets.queryApiKey), 'the query string reached the upstream');
    // Refusals the gateway writes itself: their bodies and headers are searched too.
    const forged = await send('/echo/x', { headers: { authorization: `Bearer ${secrets.forgedToken}` } });
    assert.equal(forged.status, 401);
    responses.push(forged.body, forged.headers);
    const basic = await send('/echo/x', { headers: { authorization: `Basic ${Buffer.from(`admin:${secrets.basicPassword}`).toString('base64')}` } });
    assert.equal(basic.status, 401);
    responses.push(basic.body, basic.headers);
    // An upstream error body that echoes a request body full of secrets (redacted on the way out).
    const upstreamError = await send('/echo/status/500', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `user=alice&password=${secrets.bodyPassword}&client_secret=${secrets.bodyClientSecret}&note=aws ${secrets.upstreamAws} password: ${secrets.upstreamPassword}`,
    });
    assert.equal(upstreamError.status, 500);
    responses.push(upstreamError.body);
    // MCP tool arguments carrying secrets: allowed and refused calls both end up in the audit record.
    const mcpHeaders = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const call = (name: string, args: Record<string, unknown>) =>
      send('/mcp', { method: 'POST', headers: mcpHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args } }) });
    const ping = await call('ping_host', { host: 'example.com', api_key: secrets.mcpApiKey });
    responses.push(ping.body);
    const install = await call('install_package', { package_name: secrets.mcpGithubToken });
    responses.push(install.body);
    const status = await call('get_system_status', { token: secrets.mcpApiKey });
    assert.equal(status.status, 200);
  } finally {
    await dispatcher.close();
    assert.equal(await gw.stop(), 0);
  }

  const written = [
    { path: 'stdout', text: gw.stdout() },
    { path: 'stderr', text: gw.stderr() },
    // Everything under the state dir: logs, audit files, the SQLite store (token records hold ids, never tokens).
    ...allFiles(home).filter((f) => !f.path.endsWith('.yaml')),
    ...responses.map((text, i) => ({ path: `response#${i}`, text })),
  ];
  assert.ok(written.some((f) => f.path.includes(join('audit'))), 'the audit log was searched');
  assert.ok(written.some((f) => f.path.endsWith('gatehouse.log') && f.text.length > 0), 'the log file was searched');
  const hits: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const f of written) if (f.text.includes(secret)) hits.push(`${name} in ${f.path}`);
  }
  assert.deepEqual(hits, []);
  rmSync(home, { recursive: true, force: true });
});

/** Config-only checks of the listener, TLS settings, authentication, the store and routes: each passes and each warns or fails. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOf } from './helpers.js';

test('profile.production warns in development and passes in production', async () => {
  const dev = await checkOf('profile.production', {}, { profile: 'development' });
  assert.equal(dev.status, 'warn');
  assert.match(dev.source, /seed 003 §1/);
  assert.equal((await checkOf('profile.production', {})).status, 'pass');
});

test('log.level debug or trace warns (seeds 003, 004); info passes', async () => {
  for (const level of ['debug', 'trace']) {
    const c = await checkOf('log.level', { log: { level } });
    assert.equal(c.status, 'warn');
    assert.equal(c.detail, `log.level is ${level}: request details reach the logs`);
  }
  assert.equal((await checkOf('log.level', { log: { level: 'info' } })).status, 'pass');
});

test('TLS off on a non-loopback listen address fails in every profile; on loopback in development it only warns', async () => {
  const exposed = await checkOf('tls.enabled', { server: { listen: '0.0.0.0:8080', tls: { enabled: false } } }, { profile: 'development' });
  assert.equal(exposed.status, 'fail');
  assert.match(exposed.detail, /server\.listen is 0\.0\.0\.0:8080, not a loopback address/);
  const loopback = await checkOf('tls.enabled', { server: { listen: '127.0.0.1:8080', tls: { enabled: false } } }, { profile: 'development' });
  assert.equal(loopback.status, 'warn');
  assert.match(loopback.detail, /server\.tls\.enabled is false: production serves HTTPS only \(refused in production\)/);
  assert.equal((await checkOf('tls.enabled', { server: { listen: '[::1]:8080', tls: { enabled: false } } }, { profile: 'development' })).status, 'warn');
  assert.equal((await checkOf('tls.enabled', {})).status, 'pass');
});

test('tls.hsts warns when off or shorter than a year; the default passes', async () => {
  const off = await checkOf('tls.hsts', { server: { tls: { hsts: { enabled: false } } } });
  assert.equal(off.status, 'warn');
  assert.match(off.detail, /server\.tls\.hsts\.enabled is false/);
  const short = await checkOf('tls.hsts', { server: { tls: { hsts: { max_age: '30d' } } } });
  assert.equal(short.status, 'warn');
  assert.match(short.detail, /max_age is 30d/);
  assert.equal((await checkOf('tls.hsts', {})).status, 'pass');
  assert.equal((await checkOf('tls.hsts', { server: { tls: { enabled: false } } })).status, 'skip');
});

test('client_auth require with no allowed names or SANs warns; with a list it passes', async () => {
  const open = await checkOf('tls.mtls_allowlist', { server: { tls: { client_auth: 'require', ca_file: '/etc/gh/clients-ca.crt' } } });
  assert.equal(open.status, 'warn');
  assert.match(open.detail, /mtls_allowed_common_names and mtls_allowed_sans are empty/);
  const narrowed = await checkOf('tls.mtls_allowlist', { server: { tls: { client_auth: 'require', ca_file: '/etc/gh/clients-ca.crt', mtls_allowed_sans: ['spiffe://example.org/agent'] } } });
  assert.equal(narrowed.status, 'pass');
  assert.equal((await checkOf('tls.mtls_allowlist', {})).status, 'skip');
});

test('auth.token_ttl warns for the 90-day default maximum (seed 001: ≤ 24 hours) and passes at 24h', async () => {
  const long = await checkOf('auth.token_ttl', {});
  assert.equal(long.status, 'warn');
  assert.equal(long.detail, 'auth.token.max_ttl.default is 90d, above 24h: a leaked token stays usable that long');
  assert.match(long.source, /seed 001 maximum security/);
  const admin = await checkOf('auth.token_ttl', { auth: { token: { max_ttl: { default: '24h', admin: '7d' } } } });
  assert.equal(admin.status, 'warn');
  assert.match(admin.detail, /auth\.token\.max_ttl\.admin is 7d/);
  assert.equal((await checkOf('auth.token_ttl', { auth: { token: { max_ttl: { default: '24h' } } } })).status, 'pass');
  assert.equal((await checkOf('auth.token_ttl', { auth: { methods: ['mtls'] }, server: { tls: { client_auth: 'require', ca_file: '/x' } } })).status, 'skip');
});

test('auth.methods fails with "none" in production and passes naming the methods', async () => {
  const none = await checkOf('auth.methods', { auth: { methods: ['none'] } });
  assert.equal(none.status, 'fail');
  assert.match(none.detail, /auth\.methods includes "none"/);
  const ok = await checkOf('auth.methods', { auth: { methods: ['token', 'jwt'], jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'gw' }] } } });
  assert.equal(ok.status, 'pass');
  assert.equal(ok.detail, 'auth.methods: token, jwt');
});

test('server.trusted_proxies: every address fails in production, a /4 warns, named proxies pass', async () => {
  const all = await checkOf('server.trusted_proxies', { server: { trusted_proxies: ['0.0.0.0/1', '128.0.0.0/1'] } });
  assert.equal(all.status, 'fail');
  assert.match(all.detail, /trusts every address/);
  const broad = await checkOf('server.trusted_proxies', { server: { trusted_proxies: ['10.0.0.1', '16.0.0.0/4'] } });
  assert.equal(broad.status, 'warn');
  assert.match(broad.detail, /server\.trusted_proxies\[1\] is 16\.0\.0\.0\/4/);
  assert.equal((await checkOf('server.trusted_proxies', { server: { trusted_proxies: ['10.1.2.3', '10.8.0.0/16', 'fd00::/64'] } })).status, 'pass');
  assert.equal((await checkOf('server.trusted_proxies', {})).status, 'pass');
});

test('store.kind memory fails in production (state lost on restart), warns in development; sqlite passes', async () => {
  const prod = await checkOf('store.kind', { store: { kind: 'memory' } });
  assert.equal(prod.status, 'fail');
  assert.match(prod.detail, /store\.kind is memory: revocations, lockouts/);
  assert.equal((await checkOf('store.kind', { store: { kind: 'memory' } }, { profile: 'development' })).status, 'warn');
  assert.equal((await checkOf('store.kind', {})).status, 'pass');
});

test('routes.error_bodies pass warns, naming the route; redact passes', async () => {
  const c = await checkOf('routes.error_bodies', { routes: [{ name: 'api', prefix: '/api', upstream: 'https://api.internal', error_bodies: 'pass' }] });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /error_bodies is pass on routes\[0\] \(api\)/);
  assert.equal((await checkOf('routes.error_bodies', { routes: [{ prefix: '/api', upstream: 'https://api.internal' }] })).status, 'pass');
  assert.equal((await checkOf('routes.error_bodies', {})).status, 'skip');
});

test('a plain-http upstream off this host warns, without printing its URL; loopback and https pass', async () => {
  const c = await checkOf('routes.plain_http', { routes: [{ prefix: '/api', upstream: 'http://svc:pa55word-in-url@10.0.0.7:8080/base' }] });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /routes\[0\] \(\/api\) forwards over plain http to 10\.0\.0\.7/);
  assert.ok(!c.detail.includes('pa55word-in-url'));
  const fine = await checkOf('routes.plain_http', { routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:9000' }, { prefix: '/b', upstream: 'http://localhost:9000' }, { prefix: '/c', upstream: 'https://api.internal' }] });
  assert.equal(fine.status, 'pass');
});

test('a plain-http upstream carrying an injected credential fails in production', async () => {
  const c = await checkOf('routes.plain_http', { routes: [{ prefix: '/api', upstream: 'http://10.0.0.7', upstream_auth: { bearer: 'env:API_TOKEN' } }] });
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /^routes\[0\]\.upstream_auth is set and routes\[0\]\.upstream is plain http to another host: the injected upstream credential would travel in clear$/);
});

test('routes.upstream_tls_verify fails for insecure_skip_verify, also with the scheme in capitals', async () => {
  const c = await checkOf('routes.upstream_tls_verify', { routes: [{ prefix: '/api', upstream: 'HTTPS://10.0.0.5', tls: { insecure_skip_verify: true } }] });
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /routes\[0\]\.tls\.insecure_skip_verify is true/);
  assert.equal((await checkOf('routes.upstream_tls_verify', { routes: [{ prefix: '/api', upstream: 'https://10.0.0.5' }] })).status, 'pass');
});

test('server.allowed_hosts warns off loopback when unset, and on loopback behind trusted proxies; passes when listed or on loopback alone', async () => {
  const exposed = await checkOf('server.allowed_hosts', { server: { listen: '0.0.0.0:8443' } });
  assert.equal(exposed.status, 'warn');
  assert.match(exposed.detail, /server\.listen is 0\.0\.0\.0:8443, not loopback, and server\.allowed_hosts is unset.*DNS rebinding/);
  const proxied = await checkOf('server.allowed_hosts', { server: { listen: '127.0.0.1:8443', trusted_proxies: ['127.0.0.1'] } });
  assert.equal(proxied.status, 'warn');
  assert.match(proxied.detail, /421 until server\.allowed_hosts lists it/);
  const loopback = await checkOf('server.allowed_hosts', { server: { listen: '[::1]:8443' } });
  assert.equal(loopback.status, 'pass');
  assert.match(loopback.detail, /only loopback names/);
  const listed = await checkOf('server.allowed_hosts', { server: { listen: '0.0.0.0:8443', allowed_hosts: ['gw.example.com', '*.gw.example.com'] } });
  assert.equal(listed.status, 'pass');
  assert.match(listed.detail, /names 2 hosts/);
});

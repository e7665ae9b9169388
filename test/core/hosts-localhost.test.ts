/**
 * isLoopbackHost counts loopback addresses and `localhost` only. `*.localhost` used to count (RFC 6761 §6.3), but
 * glibc with `hosts: files dns` sends siem.localhost to DNS, which answers whatever it likes: a sink or upstream named
 * so skipped the plain-text warnings while its traffic could leave the host.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopbackHost, listenerHosts } from '../../src/core/hosts.js';
import { checkOf } from '../doctor/helpers.js';

describe('isLoopbackHost', () => {
  test('loopback addresses and localhost', () => {
    for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.8.9.10', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
  });

  test('not *.localhost, and nothing else', () => {
    for (const h of ['siem.localhost', 'app.localhost', 'a.b.LOCALHOST', 'localhost.', 'localhost.evil.example', 'evil-localhost', '128.0.0.1', '::2', '0.0.0.0', '::', '::ffff:10.0.0.1', '']) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });
});

describe('callers of isLoopbackHost', () => {
  test('a plain syslog or http audit sink named *.localhost warns as one off the host would', async () => {
    const c = await checkOf('audit.sink_transport', { audit: { sinks: [{ type: 'syslog', transport: 'udp', host: 'siem.localhost' }, { type: 'http', url: 'http://collector.localhost:8080/ingest' }] } });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /audit\.sinks\[0\] sends syslog over udp to siem\.localhost in plain text/);
    assert.match(c.detail, /audit\.sinks\[1\] posts over plain http to collector\.localhost/);
    // Like any other name, it may resolve anywhere: audit.remote_sink takes it for another host, as it takes siem.internal.
    assert.equal((await checkOf('audit.remote_sink', { audit: { sinks: [{ type: 'syslog', transport: 'tls', host: 'siem.localhost' }] } })).status, 'pass');
  });

  test('a plain-http upstream named *.localhost warns; one on localhost does not', async () => {
    const route = (upstream: string) => ({ routes: [{ name: 'api', prefix: '/api', upstream }] });
    const c = await checkOf('routes.plain_http', route('http://api.localhost:9000'));
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /forwards over plain http to api\.localhost/);
    assert.equal((await checkOf('routes.plain_http', route('http://localhost:9000'))).status, 'pass');
  });

  test('a listener named *.localhost keeps the loopback Host names (the narrower side), as before', () => {
    const list = listenerHosts(undefined, 'app.localhost');
    assert.notEqual(list, undefined);
    assert.equal(list?.allows('app.localhost:8443'), true);
    assert.equal(list?.allows('localhost'), true);
    assert.equal(list?.allows('evil.example'), false);
  });
});

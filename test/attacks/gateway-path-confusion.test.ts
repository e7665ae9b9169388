/**
 * The path the gateway routes and authorizes must be the path the upstream serves. A raw `#` (a fragment has no
 * place in a request target, RFC 9112 §3.2) and `;` path parameters (servlet containers strip them before routing)
 * make the two differ: policy sees `/files/secret;x/key`, a Tomcat-style upstream serves `/files/secret/key`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { openTokenService } from '../../src/authn/index.js';
import { checkTarget } from '../../src/gateway/exchange.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** Sends raw bytes (clients normalise `#` away) and returns the status line's code. */
function rawStatus(port: number, target: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0)));
    socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

describe('the upstream serves the path that was authorized', () => {
  let upstream: Server;
  const served: string[] = [];
  let gw: TestGateway;
  let token: string;

  before(async () => {
    // Like a servlet container: the fragment is cut off and each segment's `;params` removed before routing.
    upstream = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://upstream').pathname.replace(/;[^/]*/g, '');
      served.push(path);
      res.end(path);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    gw = await startTestGateway({
      routes: [{ name: 'files', prefix: '/files', upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, strip_prefix: false, auth_required: true }],
      auth: { methods: ['token'] },
      authz: {
        routes: [
          { name: 'secret', path: '/files/secret/*', scopes: ['admin'] },
          { name: 'files', path: '/files/*', scopes: ['system:read'] },
        ],
      },
    });
    const svc = openTokenService(gw.config, { stateDir: gw.stateDir });
    token = (await svc.mint({ agent: 'reader', scopes: ['system:read'], ttlMs: 600_000 })).token;
  });
  after(async () => {
    await gw.stop();
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  });

  test('the policy is in force: a reader is refused the secret directly', async () => {
    assert.equal(await rawStatus(gw.port, '/files/secret/key', token), 403);
    assert.equal(await rawStatus(gw.port, '/files/public', token), 200);
  });

  for (const target of ['/files/secret;x/key', '/files/secret;jsessionid=1', '/files/secret#/key', '/files/public?a#b']) {
    test(`refuses ${target} with 400 before the upstream sees it`, async () => {
      const before = served.length;
      assert.equal(await rawStatus(gw.port, target, token), 400);
      assert.deepEqual(served.slice(before), [], 'the upstream served a path the policy never saw');
    });
  }

  test('checkTarget: raw `#` and `;` are refused; percent-encoded they are plain characters and pass', () => {
    for (const t of ['/a#b', '/a?q#f', '/a;b', '/a/b;c=d/e']) assert.throws(() => checkTarget(t), { code: 'GH_PATH_INVALID' }, t);
    assert.equal(checkTarget('/a%3Bb').path, '/a;b');
    assert.equal(checkTarget('/a%23b').path, '/a#b');
    assert.equal(checkTarget('/a?x=1;y=2').query, 'x=1;y=2');
  });
});

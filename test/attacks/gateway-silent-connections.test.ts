/**
 * Slowloris without the slow headers: connections that open and then send nothing at all. Node's headersTimeout only
 * starts with a request's first byte, so without a door-level limit such connections hold their max_connections /
 * max_connections_per_ip slots forever, and a few addresses fill the gateway for everyone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { rawHttp, rawStatus } from '../helpers/raw-http.js';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';

/** Resolves with how long the server kept a connection open, or -1 when it was still open after `waitMs`. */
function heldFor(socket: Socket, waitMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(-1);
    }, waitMs);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

describe('silent connections are closed after header_timeout', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  before(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      // A quiet upstream: answers after 900 ms, longer than the gateway's header_timeout below.
      setTimeout(() => res.end('late'), req.url?.includes('slow') ? 900 : 0);
    });
  });
  after(() => upstream.close());

  const limits = { header_timeout: '300ms', request_timeout: '2s', idle_timeout: '2s', max_connections_per_ip: 2 };

  test('plain HTTP: a connection that never sends a byte is closed, and its slot is freed', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }], server: { limits } });
    try {
      const silent = [connect(gw.port, '127.0.0.1'), connect(gw.port, '127.0.0.1')];
      const held = await Promise.all(silent.map((s) => heldFor(s, 3000)));
      for (const ms of held) assert.ok(ms >= 0 && ms < 2500, `a silent connection was held for ${ms === -1 ? 'the whole wait' : `${ms} ms`}`);
      const next = await rawHttp(gw.port, 'GET /up/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 10_000);
      assert.equal(rawStatus(next), 200, 'the per-IP slots of the silent connections were not freed');
    } finally {
      await gw.stop();
    }
  });

  test('HTTPS: a completed handshake followed by silence is closed too', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }], server: { limits, tls: { enabled: true } } });
    try {
      const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, rejectUnauthorized: false });
      await new Promise((r) => socket.once('secureConnect', r));
      const ms = await heldFor(socket, 3000);
      assert.ok(ms >= 0 && ms < 2500, `a silent TLS connection was held for ${ms === -1 ? 'the whole wait' : `${ms} ms`}`);
    } finally {
      await gw.stop();
    }
  });

  test('a request that arrived in time is not cut off while its upstream is slow to answer', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }], server: { limits } });
    try {
      const response = await rawHttp(gw.port, 'GET /up/slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 10_000);
      assert.equal(rawStatus(response), 200, response.slice(0, 80));
      assert.match(response, /late$/);
    } finally {
      await gw.stop();
    }
  });

  test('over HTTPS too: the first request clears the limit on its connection', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }], server: { limits, tls: { enabled: true } } });
    try {
      const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, rejectUnauthorized: false });
      let response = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (response += d));
      socket.once('secureConnect', () => socket.write('GET /up/slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
      await heldFor(socket, 10_000);
      assert.equal(rawStatus(response), 200, response.slice(0, 80));
      assert.match(response, /late$/);
    } finally {
      await gw.stop();
    }
  });
});

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

  test('a request body that stops half-way: answered 408 at request_timeout, and the connection and its upstream request end', async () => {
    // The upstream holds the body it is sent; nothing but the gateway's request_timeout ends the exchange. Before,
    // the 408 only half-closed the socket: a client keeping its side open kept its connection slot, and the request
    // being forwarded kept one of the route's upstream connections, for good.
    let upstreamClosed = 0;
    const holding = await startRecordingUpstream();
    holding.server.removeAllListeners('request');
    holding.server.on('request', (req, res) => {
      if (req.method === 'GET') {
        res.end('ok');
        return;
      }
      req.on('data', () => undefined);
      res.on('close', () => upstreamClosed++);
    });
    const gw = await startTestGateway({
      routes: [{ name: 'up', prefix: '/up', upstream: holding.url, connections: 1, queue_timeout: '500ms' }],
      server: { limits: { ...limits, request_timeout: '1s' } },
    });
    try {
      // allowHalfOpen: the client does not close its side when the gateway closes its own (as a raw socket client
      // that simply stops talking does not); only the gateway can end this connection.
      const socket = connect({ port: gw.port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('error', () => undefined);
      let answer = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (answer += d));
      await new Promise((r) => socket.once('connect', r));
      socket.write('POST /up/x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nhalf');
      // request_timeout (1 s), the linger (1 s), then some slack for a loaded machine.
      for (let i = 0; i < 300 && upstreamClosed === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(answer, /^HTTP\/1\.1 408 /);
      assert.equal(upstreamClosed, 1, 'the forwarded request was not ended upstream: the half-closed connection still holds it');
      socket.destroy();
      const next = await rawHttp(gw.port, 'GET /up/next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 10_000);
      assert.equal(rawStatus(next), 200, `the upstream connection is still held: ${next.slice(0, 120)}`);
    } finally {
      await gw.stop();
      await holding.close();
    }
  });

  test('a request body that goes bad after the response was sent gets no second response spliced after it', async () => {
    // The upstream answers as soon as the request head arrives; the client's chunked body then turns malformed.
    const early = await startRecordingUpstream();
    early.server.removeAllListeners('request');
    early.server.on('request', (req, res) => {
      req.on('data', () => undefined);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
      res.end('early');
    });
    const gw = await startTestGateway({ routes: [{ name: 'up', prefix: '/up', upstream: early.url }], server: { limits } });
    try {
      const socket = connect(gw.port, '127.0.0.1');
      socket.on('error', () => undefined);
      let answer = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (answer += d));
      await new Promise((r) => socket.once('connect', r));
      socket.write('POST /up/x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n');
      for (let i = 0; i < 250 && !answer.endsWith('early'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(answer, /^HTTP\/1\.1 200 [\s\S]*early$/);
      socket.write('zz\r\nnot a chunk\r\n');
      const ms = await heldFor(socket, 5000);
      assert.ok(ms >= 0, 'the connection was not closed');
      assert.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, `a second response followed the first: ${JSON.stringify(answer.slice(-120))}`);
    } finally {
      await gw.stop();
      await early.close();
    }
  });
});

describe('header count', () => {
  test('a second Host behind 2,000 filler header lines is seen and refused', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({ routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }], server: { limits: { max_header_size: '64kb' } } });
    try {
      const fillers = Array.from({ length: 1999 }, (_, i) => `X-F${i}: 1\r\n`).join('');
      const res = await rawHttp(gw.port, `GET /up/a HTTP/1.1\r\nHost: localhost\r\n${fillers}Host: evil.example\r\nConnection: close\r\n\r\n`, 10_000);
      assert.equal(rawStatus(res), 400, res.slice(0, 120));
      assert.equal(upstream.requests.length, 0, 'nothing forwarded');
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
});

/** Shared fixtures for the TLS suites: config, a memory logger, a real HTTPS server and real TLS clients. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { tlsSection } from '../../src/config/schema/server.js';
import type { TlsConfig } from '../../src/config/index.js';
import type { Logger } from '../../src/core/types.js';
import { clientCertIdentity, createServerTls, type ServerTls, type ServerTlsOptions } from '../../src/tls/index.js';

export function tlsConfig(input: Record<string, unknown> = {}): TlsConfig {
  return tlsSection.parse(input) as TlsConfig;
}

export function memoryLogger(lines: string[] = []): Logger & { lines: string[] } {
  const make = (bindings: Record<string, unknown>): Logger & { lines: string[] } => {
    const write = (level: string) => (obj: object, msg?: string) => {
      lines.push(JSON.stringify({ level, ...bindings, ...obj, ...(msg ? { msg } : {}) }));
    };
    return { lines, trace: write('trace'), debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (b) => make({ ...bindings, ...b }) };
  };
  return make({});
}

export function tempDir(prefix = 'gh-tls-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export const read = (p: string): string => readFileSync(p, 'utf8');

export interface RunningHttps {
  server: Server;
  tls: ServerTls;
  port: number;
  close(): Promise<void>;
}

/** A real HTTPS server built from createServerTls; answers with the client certificate identity it extracted. */
export async function startHttps(cfg: TlsConfig, opts: Partial<ServerTlsOptions> & { stateDir: string }): Promise<RunningHttps> {
  const tls = await createServerTls(cfg, { logger: memoryLogger(), profile: 'development', ...opts });
  const server = createServer(tls.options, (req, res) => {
    const identity = clientCertIdentity(req.socket as import('node:tls').TLSSocket);
    const body = JSON.stringify({ identity: identity ?? null });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  tls.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    tls,
    port,
    async close() {
      tls.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Handshake {
  protocol: string | null;
  alpn: string | false | null;
  cipher: string;
  peer: PeerCertificate;
  /** The HTTP status and body of one GET / over the connection, or the error that ended it. */
  status?: number;
  body?: string;
  error?: string;
}

/**
 * One real TLS connection plus one HTTP/1.1 request over it. With TLS 1.3 a server refuses a client certificate
 * after the client's handshake completes, so the refusal shows up as an error on the request, which is reported.
 */
export function handshake(port: number, opts: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...opts });
    let result: Handshake | undefined;
    let data = '';
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), 5000);
    socket.once('secureConnect', () => {
      result = { protocol: socket.getProtocol(), alpn: socket.alpnProtocol, cipher: socket.getCipher().standardName ?? socket.getCipher().name, peer: socket.getPeerCertificate() };
      socket.write('GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
    });
    socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (result) resolve({ ...result, error: e.code ?? e.message });
      else reject(e);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!result) return reject(new Error('closed before the handshake completed'));
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (!m) return resolve({ ...result, error: result.error ?? 'no HTTP response' });
      resolve({ ...result, status: Number(m[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

export interface Attempt {
  reused: boolean;
  /** The HTTP status of the one GET, 0 when the handshake or the request was refused. */
  status: number;
  body: string;
  /** The last session ticket the server sent (TLS 1.3 sends them after the handshake). */
  session: Buffer | undefined;
}

/** One TLS connection (optionally resuming `opts.session`) with one GET over it; never rejects. */
export function attempt(port: number, opts: ConnectionOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ...opts });
    let session: Buffer | undefined;
    let reused = false;
    let data = '';
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('session', (s: Buffer) => (session = s));
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write('GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
    });
    socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
    socket.on('error', () => undefined); // a refused handshake shows as status 0
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ reused, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), body: data.slice(data.indexOf('\r\n\r\n') + 4), session });
    });
  });
}

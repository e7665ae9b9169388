/**
 * Real TLS peers for the outbound clients' tls blocks (approval webhook, audit sinks, JWKS): a private dev CA (the
 * project's own, src/tls/devca.ts, as test/tls/upstream-pin.test.ts uses it), a second CA nobody trusts, a server
 * certificate for 127.0.0.1, a client certificate, their pins, all written to files; and HTTPS servers on loopback.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createDevCa, issueCertificate, spkiPin, type DevCa, type IssuedCertificate } from '../../src/tls/index.js';

export interface Pki {
  dir: string;
  ca: DevCa;
  /** The private CA that issued the server and client certificates. */
  caFile: string;
  /** Another CA: trusting it alone, the server's certificate does not verify. */
  otherCaFile: string;
  server: IssuedCertificate;
  client: IssuedCertificate;
  clientCertFile: string;
  clientKeyFile: string;
  /** RFC 7469 pins (base64 SHA-256 of the SPKI) of the server's leaf, of the private CA, and of an unrelated key. */
  leafPin: string;
  caPin: string;
  otherPin: string;
  /** The client certificate's CN, as the server sees it. */
  clientName: string;
  remove(): void;
}

const pinOf = (pem: string): string => spkiPin(new X509Certificate(pem));

export async function makePki(prefix = 'gh-outbound-tls-'): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const ca = await createDevCa({ commonName: 'Outbound Test CA' });
  const other = await createDevCa({ commonName: 'Someone Else CA' });
  const server = await issueCertificate(ca, { commonName: 'localhost', usage: 'server', hosts: ['localhost', '127.0.0.1'] });
  const clientName = 'gatehouse-outbound';
  const client = await issueCertificate(ca, { commonName: clientName, usage: 'client' });
  const write = (name: string, text: string, mode = 0o644): string => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode });
    return p;
  };
  return {
    dir,
    ca,
    caFile: write('ca.pem', ca.certPem),
    otherCaFile: write('other-ca.pem', other.certPem),
    server,
    client,
    clientCertFile: write('client.crt', client.certPem),
    clientKeyFile: write('client.key', client.keyPem, 0o600),
    leafPin: pinOf(server.certPem),
    caPin: pinOf(ca.certPem),
    otherPin: pinOf(other.certPem),
    clientName,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsPeer {
  /** https://127.0.0.1:PORT (no trailing slash). */
  origin: string;
  server: Server;
  /** Requests that reached the handler (a refused handshake never does). */
  requests(): number;
  /** CN of the client certificate of each request that presented one. */
  clientNames(): string[];
  setHandler(h: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 with the PKI's server certificate; with requireClientCert, only the PKI's clients get in. */
export async function startTlsPeer(pki: Pki, handler: (req: IncomingMessage, res: ServerResponse) => void, opts: { requireClientCert?: boolean } = {}): Promise<TlsPeer> {
  let h = handler;
  let requests = 0;
  const names: string[] = [];
  const require = opts.requireClientCert === true;
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: require, rejectUnauthorized: require }, (req, res) => {
    requests++;
    const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
    if (typeof cn === 'string') names.push(cn);
    h(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    requests: () => requests,
    clientNames: () => [...names],
    setHandler: (next) => void (h = next),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The request body as text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

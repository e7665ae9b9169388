/** Probes for the metrics listener's tests: one scrape over a fresh connection, and the certificate a listener serves. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';

export interface Scrape {
  status?: number;
  body?: string;
  /** The error code (or message) that ended the exchange before a response. */
  error?: string;
}

export interface ScrapeOptions {
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** One GET of the metrics URL over a fresh connection; never rejects. */
export function scrape(url: string, opts: ScrapeOptions = {}): Promise<Scrape> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const headers = opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {};
    const base = { host: '127.0.0.1', port: Number(u.port), path: u.pathname, headers, agent: false as const, timeout: 5000 };
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = u.protocol === 'https:'
      ? httpsRequest({ ...base, ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}), ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}) }, onResponse)
      : httpRequest(base, onResponse);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: `${e.code ?? ''} ${e.message}` }));
    req.end();
  });
}

/** The SHA-256 fingerprint of the certificate a TLS listener on 127.0.0.1:port serves. */
export function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

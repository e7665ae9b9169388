/**
 * `gatehouse certs pin`: RFC 7469 pins (pin-sha256) for routes[].tls.pin_sha256, of the certificates in a PEM file or
 * of the chain a TLS server presents. The connection verifies nothing: it is for discovering what to pin.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { connect } from 'node:tls';
import { GatehouseError } from '../core/errors.js';
import { BoundedReadError, readFileBounded } from '../core/files.js';
import { pemBlocks } from '../tls/certificate.js';
import { peerChain, spkiPin } from '../tls/index.js';
import type { Command } from './types.js';
import { bool, str, writeLine } from './types.js';

const MAX_PEM_BYTES = 1_048_576;
const CONNECT_TIMEOUT_MS = 10_000;

interface PinnedCertificate {
  pin: string;
  subject_cn: string | null;
  subject: string;
  ca: boolean;
}

/** A certificate's names as printable text: a server's CN may carry control characters (terminal escapes, YAML lines). */
const printable = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');

function describe(cert: X509Certificate): PinnedCertificate {
  const cn = cert.subject.split('\n').find((l) => l.startsWith('CN='));
  return { pin: spkiPin(cert), subject_cn: cn === undefined ? null : printable(cn.slice(3)), subject: printable(cert.subject.replace(/\n/g, ', ')), ca: cert.ca };
}

const line = (c: PinnedCertificate): string => `${c.pin}  ca=${c.ca ? 'yes' : 'no '}  CN=${c.subject_cn ?? '(none)'}`;

function certificatesOfFile(path: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileBounded(path, MAX_PEM_BYTES).toString('utf8');
  } catch (e) {
    if (e instanceof BoundedReadError) throw new GatehouseError('GH_USAGE', `the file ${e.reason === 'too_large' ? 'is larger than 1 MiB' : 'is not a regular file'}: ${path}`);
    throw new GatehouseError('GH_USAGE', `the file cannot be read: ${path}`);
  }
  const pems = pemBlocks(text, 'CERTIFICATE', 64);
  if (pems.length === 0) throw new GatehouseError('GH_TLS_CERT_INVALID', 'the file holds no PEM certificate');
  return pems.map((pem) => {
    try {
      return new X509Certificate(pem);
    } catch (e) {
      throw new GatehouseError('GH_TLS_CERT_INVALID', 'the file holds a certificate that cannot be parsed', { cause: e });
    }
  });
}

/** HOST:PORT or [IPv6]:PORT. */
function parseTarget(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65_535) throw new GatehouseError('GH_USAGE', '--connect takes HOST:PORT (or [IPv6]:PORT)');
  return { host: (m[1] ?? m[2]) as string, port };
}

/** One TLS handshake without verification; the chain the server sent, leaf first, each link proven by signature. */
function presentedChain(host: string, port: number, servername: string | undefined, target: string): Promise<X509Certificate[]> {
  return new Promise((resolvePromise, reject) => {
    // ca: [] keeps the local trust store out: node would append a root from it, which the server did not send.
    const socket = connect({ host, port, ca: [], rejectUnauthorized: false, ...(servername ? { servername } : {}) });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const chain = peerChain(socket.getPeerCertificate(true));
      socket.destroy();
      resolvePromise(chain);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new GatehouseError('GH_UPSTREAM_UNAVAILABLE', `no TLS handshake with ${target} (${e.code ?? e.name})`, { cause: e }));
    });
  });
}

const selfSigned = (c: X509Certificate): boolean => {
  try {
    return c.checkIssued(c) && c.verify(c.publicKey);
  } catch {
    return false;
  }
};

export const pinCommand: Command = {
  name: 'pin',
  summary: 'print the pin_sha256 pins (RFC 7469) of a PEM file\'s certificates, or of the chain a TLS server presents',
  usage: 'gatehouse certs pin (--cert FILE | --connect HOST:PORT [--servername NAME]) [--json]',
  description:
    'A pin is base64 of the SHA-256 of a certificate\'s public key (DER SubjectPublicKeyInfo), the value\n' +
    'routes[].tls.pin_sha256 takes. Same as:\n' +
    '  openssl x509 -in c.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64\n\n' +
    '--cert prints one line per certificate in the file: pin, whether it is a CA, subject CN.\n\n' +
    '--connect makes one TLS connection and prints the pins of the chain the server presents, with a YAML snippet.\n' +
    'It VERIFIES NOTHING (no CA, no hostname): it shows what a server sends, so whoever sits on the path decides\n' +
    'what you see. Confirm the pins out of band (--cert on the upstream\'s files) before you rely on them. A root CA\n' +
    'the server does not send can be pinned from its file.\n\n' +
    'Examples:\n' +
    '  gatehouse certs pin --cert upstream-ca.pem\n' +
    '  gatehouse certs pin --connect billing.internal:443',
  options: {
    cert: { type: 'string', value: 'FILE', description: 'PEM file of certificates (a key in it is ignored)' },
    connect: { type: 'string', value: 'HOST:PORT', description: 'TLS server whose presented chain to show (not verified)' },
    servername: { type: 'string', value: 'NAME', description: 'SNI name to send with --connect (default: HOST unless an IP address)' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args, ctx) {
    const file = str(args, 'cert');
    const target = str(args, 'connect');
    const servernameArg = str(args, 'servername');
    if (args.positionals.length > 0) throw new GatehouseError('GH_USAGE', 'unexpected argument: use --cert FILE or --connect HOST:PORT');
    if (Boolean(file) === Boolean(target)) throw new GatehouseError('GH_USAGE', 'give one of --cert FILE or --connect HOST:PORT');
    if (file) {
      if (servernameArg !== undefined) throw new GatehouseError('GH_USAGE', '--servername goes with --connect');
      const shown = certificatesOfFile(resolve(ctx.cwd, file)).map(describe);
      if (bool(args, 'json')) writeLine(ctx.stdout, JSON.stringify({ certificates: shown }, null, 2));
      else for (const c of shown) writeLine(ctx.stdout, line(c));
      return 0;
    }
    const { host, port } = parseTarget(target as string);
    if (servernameArg !== undefined && !/^[A-Za-z0-9.-]{1,253}$/.test(servernameArg)) throw new GatehouseError('GH_USAGE', '--servername must be a DNS name');
    // RFC 6066 §3: SNI carries host names only.
    const servername = servernameArg ?? (isIP(host) ? undefined : host);
    const chain = await presentedChain(host, port, servername, target as string);
    const shown = chain.map(describe);
    const rootSent = chain.length > 0 && selfSigned(chain[chain.length - 1] as X509Certificate);
    if (bool(args, 'json')) {
      writeLine(ctx.stdout, JSON.stringify({ target, servername: servername ?? null, verified: false, root_sent: rootSent, certificates: shown, pin_sha256: shown.map((c) => c.pin) }, null, 2));
      return 0;
    }
    writeLine(ctx.stdout, `Chain presented by ${target}${servername ? ` (SNI ${servername})` : ''}, leaf first.`);
    writeLine(ctx.stdout, 'NOT VERIFIED: this connection checked no certificate. Confirm these pins out of band before relying on them.');
    writeLine(ctx.stdout, '');
    for (const c of shown) writeLine(ctx.stdout, line(c));
    if (!rootSent) writeLine(ctx.stdout, '(the root CA was not sent: pin it from its file with gatehouse certs pin --cert, if you want it)');
    writeLine(ctx.stdout, '');
    writeLine(ctx.stdout, 'routes[].tls for gatehouse.yaml (keep at least two: the leaf and its issuing CA, or a backup key):');
    writeLine(ctx.stdout, '  tls:');
    writeLine(ctx.stdout, '    pin_sha256:');
    for (const c of shown) writeLine(ctx.stdout, `      - "${c.pin}"  # CN=${c.subject_cn ?? '(none)'}${c.ca ? ' (CA)' : ''}`);
    return 0;
  },
};

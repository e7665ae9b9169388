/**
 * `gatehouse certs dev` and `gatehouse certs inspect` (issue 2: a dev CA, a server certificate and a client
 * certificate for mTLS tests, generated in Node; private keys written 0600), and `certs revoke` / `certs crl`: a CRL
 * from such a CA for server.tls.crl_file (seed 001: a compromised credential can be revoked). `certs pin` is in
 * certs-pin.ts.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseDuration } from '../core/durations.js';
import { join, resolve } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { BoundedReadError, readFileBounded } from '../core/files.js';
import { certificateInfo, generateDevCertificates, loadDevCa, writeFileAtomic } from '../tls/index.js';
import { pemBlocks } from '../tls/certificate.js';
import { CRL_REASONS, checkCrlBundle, crlEntries, issueCrl } from '../tls/crl.js';
import { pinCommand } from './certs-pin.js';
import type { CliContext, Command, ParsedArgs } from './types.js';
import { bool, list, str, writeLine } from './types.js';

const MAX_PEM_BYTES = 1_048_576;

function readSmall(path: string, what: string): string {
  try {
    return readFileBounded(path, MAX_PEM_BYTES).toString('utf8');
  } catch (e) {
    if (e instanceof BoundedReadError) throw new GatehouseError('GH_USAGE', `${what} ${e.reason === 'too_large' ? 'is larger than 1 MiB' : 'is not a regular file'}: ${path}`);
    throw new GatehouseError('GH_USAGE', `${what} cannot be read: ${path}`);
  }
}

const dev: Command = {
  name: 'dev',
  summary: 'write a development CA, a server certificate and client certificates for mTLS tests',
  usage: 'gatehouse certs dev --out DIR [--host NAME ...] [--client NAME ...] [--ca DIR] [--force]',
  description:
    'Writes ca.crt/ca.key, server.crt/server.key (SAN: localhost, 127.0.0.1, ::1 and every --host) and\n' +
    'client.crt/client.key (CN: the first --client; further names as client-NAME.crt). ECDSA P-256, generated in\n' +
    'Node; keys are written 0600. For development and tests only: production refuses a dev CA.\n\n' +
    'With --ca DIR the certificates are signed by the CA in DIR (its ca.crt and ca.key) instead of a new one, e.g.\n' +
    'the CA the gateway generated under $GATEHOUSE_HOME/tls, so its client_auth accepts them. That CA key is not copied.\n\n' +
    'Examples:\n' +
    '  gatehouse certs dev --out ./certs --host gateway.internal --client agent-a --client agent-b\n' +
    '  gatehouse certs dev --out ./clients --ca .gatehouse/tls --client agent-a\n' +
    '  curl --cacert certs/ca.crt --cert certs/client.crt --key certs/client.key https://localhost:8443/healthz',
  options: {
    out: { type: 'string', short: 'o', value: 'DIR', description: 'directory to write to (created 0700 when missing)' },
    host: { type: 'string', multiple: true, value: 'NAME', description: 'extra DNS name or IP address for the server certificate' },
    client: { type: 'string', multiple: true, value: 'NAME', description: 'client certificate common name (default gatehouse-dev-client)' },
    ca: { type: 'string', value: 'DIR', description: 'sign with the existing CA in DIR (ca.crt, ca.key)' },
    force: { type: 'boolean', description: 'replace files that already exist in --out' },
  },
  async run(args, ctx) {
    const outArg = str(args, 'out');
    if (!outArg) throw new GatehouseError('GH_USAGE', '--out DIR is required');
    const outDir = resolve(ctx.cwd, outArg);
    const clientNames = list(args, 'client');
    const caDir = str(args, 'ca');
    if (!bool(args, 'force')) {
      const clash = ['ca.key', 'ca.crt', 'server.key', 'server.crt', 'client.key', 'client.crt'].filter((f) => existsSync(join(outDir, f)));
      if (clash.length) throw new GatehouseError('GH_USAGE', `${outDir} already holds ${clash.join(', ')}; pass --force to replace them`);
    }
    const ca = caDir
      ? { certPem: readSmall(join(resolve(ctx.cwd, caDir), 'ca.crt'), 'the CA certificate'), keyPem: readSmall(join(resolve(ctx.cwd, caDir), 'ca.key'), 'the CA key') }
      : undefined;
    const files = await generateDevCertificates({ outDir, hosts: list(args, 'host'), ...(clientNames.length ? { clientNames } : {}), ...(ca ? { ca } : {}) });
    writeLine(ctx.stdout, `CA certificate      ${files.caCert}  (SHA-256 ${files.caFingerprint256})`);
    if (files.caKey) writeLine(ctx.stdout, `CA key              ${files.caKey}  (0600)`);
    writeLine(ctx.stdout, `server certificate  ${files.serverCert}  (SHA-256 ${files.serverFingerprint256})`);
    writeLine(ctx.stdout, `server key          ${files.serverKey}  (0600)`);
    for (const c of files.clients) writeLine(ctx.stdout, `client ${c.name.padEnd(12)} ${c.cert}, ${c.key} (0600)`);
    writeLine(ctx.stdout, '');
    writeLine(ctx.stdout, 'server.tls for gatehouse.yaml (development only):');
    writeLine(ctx.stdout, `  cert_file: ${files.serverCert}`);
    writeLine(ctx.stdout, `  key_file: ${files.serverKey}`);
    writeLine(ctx.stdout, `  ca_file: ${files.caCert}`);
    writeLine(ctx.stdout, '  client_auth: require');
    writeLine(ctx.stdout, `  mtls_allowed_common_names: [${files.clients.map((c) => c.name).join(', ')}]`);
    return 0;
  },
};

/** A PEM file's certificates (at most 64). */
const pemCertificates = (text: string): string[] => pemBlocks(text, 'CERTIFICATE', 64);

const inspect: Command = {
  name: 'inspect',
  summary: 'show subject, SANs, validity and fingerprint of the certificates in a PEM file',
  usage: 'gatehouse certs inspect FILE [--json]',
  description: 'Reads certificates only; a private key in the file is ignored and never printed.\n\nExample:\n  gatehouse certs inspect certs/server.crt',
  options: { json: { type: 'boolean', description: 'print JSON' } },
  async run(args, ctx) {
    const file = args.positionals[0];
    if (!file || args.positionals.length > 1) throw new GatehouseError('GH_USAGE', 'give exactly one FILE');
    const pems = pemCertificates(readSmall(resolve(ctx.cwd, file), 'the file'));
    if (pems.length === 0) throw new GatehouseError('GH_TLS_CERT_INVALID', 'the file holds no PEM certificate');
    const now = Date.now();
    const shown = pems.map((pem) => {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(pem);
      } catch (e) {
        throw new GatehouseError('GH_TLS_CERT_INVALID', 'the file holds a certificate that cannot be parsed', { cause: e });
      }
      const info = certificateInfo(cert);
      return {
        subject: info.subject,
        issuer: info.issuer,
        subject_alt_name: info.subjectAltName ?? null,
        not_before: info.validFrom.toISOString(),
        not_after: info.validTo.toISOString(),
        days_left: Math.floor((info.validTo.getTime() - now) / 86_400_000),
        ca: info.ca,
        extended_key_usage: cert.keyUsage ?? null,
        serial: info.serialNumber,
        fingerprint256: info.fingerprint256,
      };
    });
    if (bool(args, 'json')) {
      writeLine(ctx.stdout, JSON.stringify(shown.length === 1 ? shown[0] : shown, null, 2));
      return 0;
    }
    shown.forEach((c, i) => {
      if (shown.length > 1) writeLine(ctx.stdout, `# certificate ${i + 1} of ${shown.length}`);
      writeLine(ctx.stdout, `subject      ${c.subject}`);
      writeLine(ctx.stdout, `issuer       ${c.issuer}`);
      writeLine(ctx.stdout, `SANs         ${c.subject_alt_name ?? '(none)'}`);
      writeLine(ctx.stdout, `valid        ${c.not_before} → ${c.not_after} (${c.days_left < 0 ? 'EXPIRED' : `${c.days_left} days left`})`);
      writeLine(ctx.stdout, `CA           ${c.ca ? 'yes' : 'no'}`);
      if (c.extended_key_usage) writeLine(ctx.stdout, `ext. usage   ${c.extended_key_usage.join(', ')}`);
      writeLine(ctx.stdout, `serial       ${c.serial}`);
      writeLine(ctx.stdout, `SHA-256      ${c.fingerprint256}`);
    });
    return 0;
  },
};

const crlOptions = {
  ca: { type: 'string', value: 'DIR', description: 'the CA directory (ca.crt, ca.key) from certs dev' },
  crl: { type: 'string', value: 'FILE', description: 'the CRL to write (default DIR/crl.pem); its entries are kept' },
  'next-update': { type: 'string', value: 'DURATION', description: 'how long the CRL stays current (default 30d): renew it before then' },
} as const;

/** Loads the CA of --ca and the entries already in the CRL file; writes the CRL with `add` appended. */
async function writeCrl(args: ParsedArgs, ctx: CliContext, add: { serial: string; reason?: string; cert?: X509Certificate } | undefined): Promise<number> {
  const caArg = str(args, 'ca');
  if (!caArg) throw new GatehouseError('GH_USAGE', '--ca DIR (the CA directory with ca.crt and ca.key) is required');
  const caDir = resolve(ctx.cwd, caArg);
  const caPem = readSmall(join(caDir, 'ca.crt'), 'the CA certificate');
  const ca = await loadDevCa(caPem, readSmall(join(caDir, 'ca.key'), 'the CA key'));
  // A certificate another CA issued is not revoked by this CA's CRL: listing its serial here would print "revoked"
  // while it stays valid (development has two CAs: $GATEHOUSE_HOME/tls and each certs dev --out).
  if (add?.cert) {
    const caCert = new X509Certificate(caPem);
    if (!add.cert.checkIssued(caCert) || !add.cert.verify(caCert.publicKey)) {
      throw new GatehouseError('GH_USAGE', `the certificate was not issued by the CA in ${caDir}: revoke it with the CA that issued it (${add.cert.issuer.replace(/\n/g, ', ')})`);
    }
  }
  const crlPath = resolve(ctx.cwd, str(args, 'crl') ?? join(caDir, 'crl.pem'));
  let validityMs: number;
  try {
    validityMs = parseDuration(str(args, 'next-update') ?? '30d');
  } catch (e) {
    throw new GatehouseError('GH_USAGE', `--next-update: ${(e as Error).message}`);
  }
  if (validityMs < 60_000 || validityMs > 400 * 86_400_000) throw new GatehouseError('GH_USAGE', '--next-update must be between 1m and 400d');
  const now = Date.now();
  const entries = existsSync(crlPath) ? crlEntries(readSmall(crlPath, 'the CRL'), caPem, now) : [];
  let added = false;
  if (add) {
    const reason = add.reason !== undefined && Object.hasOwn(CRL_REASONS, add.reason) ? CRL_REASONS[add.reason] : undefined;
    if (add.reason !== undefined && reason === undefined) throw new GatehouseError('GH_USAGE', `--reason must be one of ${Object.keys(CRL_REASONS).join(', ')}`);
    if (!entries.some((e) => e.serial === add.serial)) {
      entries.push({ serial: add.serial, revokedAt: new Date(now), ...(reason !== undefined ? { reason } : {}) });
      added = true;
    }
  }
  const pem = await issueCrl(ca, { entries, nowMs: now, validityMs });
  // Judged as the gateway will judge it before it is put where the gateway reads it.
  const checked = checkCrlBundle(pem, caPem, now);
  writeFileAtomic(crlPath, pem, 0o644);
  if (add) writeLine(ctx.stdout, added ? `revoked      serial ${add.serial}` : `already revoked: serial ${add.serial}`);
  writeLine(ctx.stdout, `CRL          ${crlPath}  (${checked.crls[0]?.revoked.length ?? 0} revoked, next update ${checked.crls[0]?.nextUpdate?.toISOString() ?? '-'})`);
  writeLine(ctx.stdout, 'server.tls.crl_file names it; a running gateway reloads it (watch: true).');
  return 0;
}

const revoke: Command = {
  name: 'revoke',
  summary: 'revoke a client certificate of a certs dev CA: adds it to the CA\'s CRL',
  usage: 'gatehouse certs revoke --ca DIR (--cert FILE | --serial HEX) [--reason R] [--crl FILE] [--next-update 30d]',
  description:
    'Adds the certificate to the CRL signed by the CA in DIR (DIR/crl.pem unless --crl), keeping the entries already\n' +
    'there. Point server.tls.crl_file at it: the gateway refuses the certificate at the handshake from the next\n' +
    'connection (the file is watched), and a session made before cannot be resumed. Re-issue the CRL before its next\n' +
    'update with `gatehouse certs crl`: past it, every client certificate is refused.\n\n' +
    'For CAs of other PKIs, their own tooling issues the CRL; crl_file takes any PEM CRL.\n\n' +
    'Example:\n  gatehouse certs revoke --ca ./certs --cert ./certs/client-agent-b.crt --reason keyCompromise',
  options: {
    ...crlOptions,
    cert: { type: 'string', value: 'FILE', description: 'the certificate to revoke (PEM)' },
    serial: { type: 'string', value: 'HEX', description: 'or its serial number, as certs inspect prints it' },
    reason: { type: 'string', value: 'R', description: `RFC 5280 reason: ${Object.keys(CRL_REASONS).join(', ')}` },
  },
  async run(args, ctx) {
    const certArg = str(args, 'cert');
    const serialArg = str(args, 'serial');
    if (Boolean(certArg) === Boolean(serialArg)) throw new GatehouseError('GH_USAGE', 'give one of --cert FILE or --serial HEX');
    let serial: string;
    let cert: X509Certificate | undefined;
    if (certArg) {
      const pems = pemCertificates(readSmall(resolve(ctx.cwd, certArg), 'the certificate'));
      if (pems.length !== 1) throw new GatehouseError('GH_TLS_CERT_INVALID', 'the --cert file must hold exactly one PEM certificate');
      try {
        cert = new X509Certificate(pems[0] as string);
        serial = cert.serialNumber.toUpperCase();
      } catch (e) {
        throw new GatehouseError('GH_TLS_CERT_INVALID', 'the --cert file holds a certificate that cannot be parsed', { cause: e });
      }
    } else {
      serial = (serialArg as string).replace(/:/g, '').toUpperCase();
      if (!/^[0-9A-F]{1,40}$/.test(serial)) throw new GatehouseError('GH_USAGE', '--serial must be hexadecimal (at most 20 bytes)');
      serial = serial.replace(/^(?:00)+(?=..)/, '');
    }
    const reason = str(args, 'reason');
    return writeCrl(args, ctx, { serial, ...(reason !== undefined ? { reason } : {}), ...(cert ? { cert } : {}) });
  },
};

const crl: Command = {
  name: 'crl',
  summary: 'issue (or renew) the CRL of a certs dev CA',
  usage: 'gatehouse certs crl --ca DIR [--crl FILE] [--next-update 30d]',
  description: 'Signs a new CRL with the entries of the existing one (none the first time) and a new next update.\n\nExample:\n  gatehouse certs crl --ca ./certs --next-update 7d',
  options: crlOptions,
  async run(args, ctx) {
    return writeCrl(args, ctx, undefined);
  },
};

export const certsCommand: Command = {
  name: 'certs',
  summary: 'development certificates, their revocation, certificate inspection and upstream key pins',
  usage: 'gatehouse certs <dev|revoke|crl|inspect|pin> [options]',
  subcommands: [dev, revoke, crl, inspect, pinCommand],
};

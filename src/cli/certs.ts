/**
 * `gatehouse certs dev` and `gatehouse certs inspect` (issue 2: a dev CA, a server certificate and a client
 * certificate for mTLS tests, generated in Node; private keys written 0600).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { BoundedReadError, readFileBounded } from '../core/files.js';
import { certificateInfo, generateDevCertificates } from '../tls/index.js';
import type { Command } from './types.js';
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

/** Splits a PEM bundle into its certificates without a regex over untrusted input. */
function pemCertificates(text: string): string[] {
  const begin = '-----BEGIN CERTIFICATE-----';
  const end = '-----END CERTIFICATE-----';
  const out: string[] = [];
  for (let i = text.indexOf(begin); i !== -1 && out.length < 64; i = text.indexOf(begin, i + begin.length)) {
    const j = text.indexOf(end, i);
    if (j === -1) break;
    out.push(text.slice(i, j + end.length));
  }
  return out;
}

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

export const certsCommand: Command = {
  name: 'certs',
  summary: 'development certificates and certificate inspection',
  usage: 'gatehouse certs <dev|inspect> [options]',
  subcommands: [dev, inspect],
};

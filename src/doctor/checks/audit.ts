/** The audit trail (seed 001 "Defense Layer 4" and maximum security; seed 002 "Enable audit logging"). */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { readFileBounded } from '../../core/files.js';
import type { CheckDefinition, DoctorContext, Finding, Outcome } from '../types.js';
import { isFileError, unreadableReason } from '../files.js';
import { fail, isLoopbackHost, judged, passed, skipped, warn } from '../outcome.js';

const MAX_KEY_BYTES = 64 * 1024;

const off = (ctx: DoctorContext): Outcome | undefined => (ctx.cfg.audit.enabled ? undefined : skipped('audit.enabled is false'));

/** Where a syslog or http sink sends: its host (undefined for an http URL that does not parse). */
function sinkHost(s: DoctorContext['cfg']['audit']['sinks'][number]): string | undefined {
  if (s.type === 'syslog') return s.host;
  if (s.type !== 'http') return undefined;
  try {
    return new URL(s.url).hostname;
  } catch {
    return undefined;
  }
}

/**
 * A copy off this host, where an intruder on it cannot reach (seed 001 "Send audit logs to SIEM"). A syslog or http
 * sink on loopback is a relay (rsyslog, a collector agent): it may forward off the host, but nothing here shows it.
 */
function remoteSink(ctx: DoctorContext): Outcome {
  const audit = ctx.cfg.audit;
  const network = audit.sinks.flatMap((s, i) => (s.type === 'syslog' || s.type === 'http' ? [{ i, type: s.type === 'syslog' ? `syslog (${s.transport})` : 'http', host: sinkHost(s) }] : []));
  const off = network.filter((s) => s.host !== undefined && !isLoopbackHost(s.host));
  if (off.length > 0) return passed(`audit.sinks sends records off this host: ${off.map((s) => `${s.type} to ${s.host ?? ''}`).join(', ')}`);
  const where = audit.dir ?? `${ctx.cfg.state_dir}/audit`;
  const relays = network.filter((s) => s.host !== undefined);
  if (relays.length > 0) {
    return judged([warn(`audit.sinks sends records only to loopback (${relays.map((s) => `audit.sinks[${s.i}] ${s.type} to ${s.host ?? ''}`).join(', ')}): a relay on this host, which an intruder on it can stop; whether it forwards the records off the host is not visible here`)], '');
  }
  const stdout = audit.sinks.some((s) => s.type === 'stdout');
  return judged([warn(`audit.sinks has no syslog or http sink: the only copy is the local file in ${where}${stdout ? ' (and stdout, if something collects it)' : ''}, which an intruder on this host can delete`)], '');
}

/** A sink that leaves the host in plain text hands every audit record (principals, tools, arguments) to the network. */
function sinkTransport(ctx: DoctorContext): Outcome {
  const sinks = ctx.cfg.audit.sinks;
  const findings = sinks.map((s, i): Finding | false => {
    if (s.type === 'syslog') return s.transport !== 'tls' && !isLoopbackHost(s.host) && warn(`audit.sinks[${i}] sends syslog over ${s.transport} to ${s.host} in plain text: use transport: tls`);
    if (s.type !== 'http') return false;
    let url: URL;
    try {
      url = new URL(s.url);
    } catch {
      return false;
    }
    // With headers it is a production refusal (config/profiles.ts), reported through `refusals`.
    return url.protocol === 'http:' && !isLoopbackHost(url.hostname) && Object.keys(s.headers).length === 0 && warn(`audit.sinks[${i}] posts over plain http to ${url.hostname}: use https`);
  });
  if (!sinks.some((s) => s.type === 'syslog' || s.type === 'http')) return skipped('no syslog or http audit sink');
  return judged(findings, 'every remote audit sink uses TLS or stays on loopback');
}

function alerts(ctx: DoctorContext): Outcome {
  const a = ctx.cfg.audit.alerts;
  if (!a.enabled) return judged([warn('audit.alerts.enabled is false: critical operations and repeated authorization failures raise no alert')], '');
  return judged(
    [
      a.webhook_url === undefined && warn('audit.alerts.webhook_url is not set: alerts are not delivered anywhere'),
      !a.on_critical && warn('audit.alerts.on_critical is false: critical operations raise no alert'),
    ],
    `alerts on critical operations and ${a.auth_failures.threshold} authorization failures within ${Math.round(a.auth_failures.window / 1000)}s`,
  );
}

/** The signing key as the audit writer would read it: PEM from private_key_env, else private_key_file, else the generated one. */
function signingKey(ctx: DoctorContext): { key?: KeyObject; finding?: Finding; source: string } {
  const c = ctx.cfg.audit.checkpoint;
  const parse = (pem: string | Buffer, source: string): { key?: KeyObject; finding?: Finding; source: string } => {
    try {
      const key = createPrivateKey(pem);
      return key.asymmetricKeyType === 'ed25519' ? { key, source } : { finding: fail(`${source} is not an Ed25519 key`), source };
    } catch {
      return { finding: fail(`${source} does not hold a readable PEM private key`), source };
    }
  };
  if (c.private_key_env !== undefined) {
    const pem = ctx.env[c.private_key_env];
    // An unset variable is config.env_vars' finding.
    return pem ? parse(pem, `audit.checkpoint.private_key_env (${c.private_key_env})`) : { source: `audit.checkpoint.private_key_env (${c.private_key_env})` };
  }
  const file = c.private_key_file ?? join(ctx.cfg.state_dir, 'audit-signing.key');
  const source = c.private_key_file ? 'audit.checkpoint.private_key_file' : `${file} (generated)`;
  try {
    return parse(readFileBounded(file, MAX_KEY_BYTES), source);
  } catch (e) {
    // The generated key appears at first start; a configured one must be there already.
    return c.private_key_file ? { finding: fail(`${source} ${unreadableReason(e)}`), source } : { source };
  }
}

/** The key `audit verify` checks with: a public_key_file that is not the signing key's other half rejects every checkpoint. */
function checkpointKey(ctx: DoctorContext): Outcome {
  const c = ctx.cfg.audit.checkpoint;
  const signing = signingKey(ctx);
  let pub: Finding | undefined;
  if (c.public_key_file !== undefined) {
    try {
      const text = readFileBounded(c.public_key_file, MAX_KEY_BYTES).toString('utf8');
      const key = text.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(text)) : createPublicKey(text);
      const spki = (k: KeyObject): string => k.export({ type: 'spki', format: 'der' }).toString('base64');
      if (key.asymmetricKeyType !== 'ed25519') pub = fail('audit.checkpoint.public_key_file is not an Ed25519 key');
      else if (signing.key && spki(createPublicKey(signing.key)) !== spki(key)) pub = fail(`audit.checkpoint.public_key_file is not the public half of ${signing.source}: audit verify rejects every new checkpoint`);
    } catch (e) {
      pub = fail(`audit.checkpoint.public_key_file ${isFileError(e) ? unreadableReason(e) : 'does not hold a readable PEM public key'}`);
    }
  }
  return judged([signing.finding, pub], `checkpoints every ${c.every_records} records or ${c.every_seconds}s, signed with ${signing.source}`);
}

export const auditChecks: CheckDefinition[] = [
  {
    id: 'audit.enabled',
    title: 'Audit trail on',
    source: 'seed 001 defense layer 4; seed 002 security best practices §6',
    fix: 'Set audit.enabled: true (the default).',
    refusals: /^audit\.enabled$/,
    passDetail: 'audit.enabled is true',
  },
  {
    id: 'audit.remote_sink',
    title: 'Audit records leave the host',
    source: 'seed 001 maximum security ("Send audit logs to SIEM"); seed 003 §9 ("log aggregation")',
    fix: 'Add a syslog (transport: tls) or https sink under audit.sinks pointing at your SIEM itself, not a relay on loopback.',
    inspect: (ctx) => off(ctx) ?? remoteSink(ctx),
  },
  {
    id: 'audit.sink_transport',
    title: 'Audit sinks encrypted in transit',
    source: 'seed 000 TLS best practices §1 ("Always use TLS in production")',
    fix: 'Use transport: tls for syslog sinks and https:// URLs for http sinks.',
    refusals: /^audit\.sinks\[\]\.headers$/,
    inspect: (ctx) => off(ctx) ?? sinkTransport(ctx),
  },
  {
    id: 'audit.on_failure',
    title: 'Audited operations fail closed',
    source: 'seed 001 defense layer 4 ("all operations"); ARCHITECTURE.md (any error inside record denies)',
    fix: 'Set audit.on_failure: closed (the default): an operation that cannot be recorded is refused.',
    inspect: (ctx) => off(ctx) ?? (ctx.cfg.audit.on_failure === 'closed' ? passed('audit.on_failure is closed') : judged([warn('audit.on_failure is continue: operations go on unrecorded while the audit log cannot be written')], '')),
  },
  {
    id: 'audit.alerts',
    title: 'Alerts on critical operations and authorization failures',
    source: 'seed 001 maximum security ("Alert on critical operations", "Alert on authorization failures")',
    fix: 'Set audit.alerts.enabled: true with an https webhook_url (and secret_env to sign the posts).',
    refusals: /^audit\.alerts\.headers$/,
    inspect: (ctx) => off(ctx) ?? alerts(ctx),
  },
  {
    id: 'audit.checkpoint_key',
    title: 'Audit checkpoints signed with a usable key',
    source: 'seed 001 defense layer 4 (forensics); seed 002 threat model ("Data tampering: Integrity checks")',
    fix: 'Give an Ed25519 PKCS#8 PEM key (audit.checkpoint.private_key_file or private_key_env; gatehouse audit keygen writes a pair), public_key_file its public half, and keep a copy of that public key off this host for audit verify --pubkey.',
    inspect: (ctx) => off(ctx) ?? checkpointKey(ctx),
  },
];

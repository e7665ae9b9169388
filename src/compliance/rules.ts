/**
 * The rules behind the controls (controls.ts names which rule judges which control, with its evidence). Each rule reads
 * the doctor's results and the loaded configuration, and says what it found by config path or check id.
 */
import { BlockList, isIP } from 'node:net';
import { trustsEveryAddress } from '../config/index.js';
import { formatDuration } from '../core/durations.js';
import { isLoopbackHost } from '../core/hosts.js';
import { routeName } from './facts.js';
import type { JudgeContext, Judgement } from './types.js';
import { Verdict, fromChecks, statusOf } from './verdict.js';

/** PCI DSS v4.0 8.3.4: lock out after not more than 10 attempts, for at least 30 minutes. */
export const PCI_MAX_FAILURES = 10;
export const PCI_MIN_LOCKOUT_MS = 30 * 60_000;
/**
 * Failures count within limits.lockout.window: a client pacing itself to max_failures - 1 per window is never locked
 * out. 8.3.4 names no window; 15 minutes is the floor the CIS benchmarks set for the same counter ("Reset account
 * lockout counter after: 15 or more minutes"), and keeps such a client near the rate a lockout allows.
 */
export const PCI_MIN_LOCKOUT_WINDOW_MS = 15 * 60_000;
/** An exempt range broader than a /8 (IPv4) or a /32 (IPv6) is not "a NAT you vouch for" (doctor's server.trusted_proxies rule). */
export const LOCKOUT_BROAD_BITS = { 4: 8, 6: 32 } as const;
/** PCI DSS v4.0 10.5.1: 12 months of audit history. Twelve calendar months span 366 days when they include 29 February. */
export const PCI_MIN_RETENTION_MS = 366 * 86_400_000;

const AUDIT_OFF: Judgement = { status: 'not_met', findings: ['audit.enabled is false: nothing is recorded'], fix: 'Set audit.enabled: true (the default).' };

/** Routes whose bodies must arrive as Gatehouse ciphertext and are forwarded untouched. */
const ciphertextRoutes = (ctx: JudgeContext): string[] =>
  ctx.cfg.routes.flatMap((r, i) => (r.end_to_end && r.encryption?.required ? [routeName(r, i)] : []));

/** HIPAA 164.312(a)(1), PCI 7.2.1: every route authenticated, and what no rule grants is denied. */
export function accessControl(ctx: JudgeContext): Judgement {
  if (ctx.cfg.routes.length === 0) return { status: 'not_applicable', findings: ['routes is empty: the gateway guards no service'] };
  const v = fromChecks(new Verdict(), ctx, { failNotMet: ['auth.methods', 'routes.auth_required'] });
  if (ctx.cfg.authz.http_default === 'authenticated') {
    v.add('partial', 'authz.http_default is authenticated: an HTTP request no authz rule names is allowed for every authenticated principal, granted or not', 'Set authz.http_default: deny (the default) and grant each route its scopes under authz.routes or in ACL files.');
  }
  return v.done('every route requires an authenticated principal; an HTTP request no authz rule grants is denied (authz.http_default: deny), and so is an MCP tool not in the registry');
}

/** HIPAA 164.312(a)(2)(i), PCI 8.2.1: no credential that makes many callers one principal. */
export function uniqueIds(ctx: JudgeContext): Judgement {
  const { auth } = ctx.cfg;
  const v = fromChecks(new Verdict(), ctx, { failPartial: ['auth.trusted_identity'] });
  if (auth.methods.length === 0) v.add('not_met', 'auth.methods is empty: no caller is identified', 'List real methods in auth.methods (token, jwt, api_key, basic, mtls).');
  if (auth.methods.includes('none')) {
    v.add('not_met', `auth.methods includes none: every caller without a credential is the one principal ${auth.none.principal}`, 'Remove none from auth.methods.');
  }
  if (auth.methods.includes('header') && Object.keys(auth.header.headers).length > 0) {
    v.add('partial', `auth.methods includes header: everyone who holds the auth.header.headers values is the one principal ${auth.header.principal}`, 'Give each caller a credential of its own (token, api_key, jwt or mtls) and remove header from auth.methods.');
  }
  return v.done(`each credential of auth.methods (${auth.methods.join(', ')}) names its own principal, recorded as subject in every audit record`);
}

/** HIPAA 164.312(a)(2)(iii): credentials that end; the gateway keeps no session of its own. */
export function automaticLogoff(ctx: JudgeContext): Judgement {
  const { auth, server } = ctx.cfg;
  if (auth.methods.length === 0) return { status: 'not_applicable', findings: ['auth.methods is empty: no credential is accepted'] };
  const v = new Verdict();
  if (auth.methods.includes('token')) fromChecks(v, ctx, { warnPartial: ['auth.token_ttl'] });
  const lasting = auth.methods.filter((m) => m !== 'token' && m !== 'jwt');
  if (lasting.length > 0) {
    v.add('partial', `auth.methods includes ${lasting.join(', ')}: those credentials carry no lifetime the configuration enforces (API keys expire only when created with an expiry, certificates at their notAfter)`, 'For interactive users prefer tokens with auth.token.max_ttl of 24h or less, or JWTs from an identity provider that issues short-lived ones.');
  }
  v.note(`lifetimes count from issue, not from the last use; the gateway closes a keep-alive connection idle for server.limits.idle_timeout (${formatDuration(server.limits.idle_timeout)})`);
  return v.done(`every accepted credential expires: ${auth.methods.includes('token') ? `tokens within auth.token.max_ttl.default (${formatDuration(auth.token.max_ttl.default)})` : ''}${auth.methods.includes('token') && auth.methods.includes('jwt') ? ', ' : ''}${auth.methods.includes('jwt') ? 'JWTs at their exp (required)' : ''}`);
}

/** HIPAA 164.312(a)(2)(iv): a mechanism the gateway offers to encrypt and decrypt, with its master keys kept apart. */
export function encryptionMechanism(ctx: JudgeContext): Judgement {
  const e = ctx.cfg.encryption;
  const v = fromChecks(new Verdict(), ctx, { failPartial: ['secrets.master_key'] });
  const e2e = ciphertextRoutes(ctx);
  const offered = [
    e.enabled && e.transit.enabled && 'the transit API (encryption.transit.enabled)',
    e.enabled && e.request_bodies.enabled && 'client-encrypted request bodies (encryption.request_bodies.enabled)',
    e2e.length > 0 && `end-to-end routes accepting ciphertext only (${e2e.join(', ')})`,
  ].filter((x): x is string => typeof x === 'string');
  if (offered.length === 0) {
    const why = `${e.enabled ? 'encryption.enabled is true, but neither encryption.transit, encryption.request_bodies nor an end-to-end route with encryption.required uses it' : 'encryption.enabled is false and no route requires end-to-end ciphertext'}: the gateway offers no mechanism to encrypt ePHI, so encryption at rest rests with the services behind it`;
    if (v.status === 'met') return { status: 'outside_gateway', findings: [why] };
    return v.note(why).done();
  }
  if (e.enabled && e.kms.key_file === undefined && e.kms.key_env === undefined) {
    v.add('partial', 'encryption.kms.key_file and key_env are unset: the master key is generated into the state directory, beside the data keys it wraps', 'Point encryption.kms.key_file (or key_env) at a master key kept outside the state directory.');
  }
  return v.done(`the gateway offers ${offered.join(' and ')}`);
}

/** HIPAA 164.312(b): activity recorded, and an operation that cannot be recorded refused. */
export function auditControls(ctx: JudgeContext): Judgement {
  if (!ctx.cfg.audit.enabled) return AUDIT_OFF;
  const v = fromChecks(new Verdict(), ctx, { warnPartial: ['audit.on_failure'] });
  if (statusOf(ctx, 'audit.remote_sink') === 'warn') v.note('the only copy of the records is on this host (audit.remote_sink warns)');
  if (statusOf(ctx, 'audit.alerts') === 'warn') v.note('no alert reaches anyone (audit.alerts warns): examining the records is left to people');
  return v.done('audit.enabled: requests, authentication failures, authorization decisions, approvals and admin actions are recorded, and an operation that cannot be recorded is refused (audit.on_failure: closed); gatehouse audit query examines them');
}

/** Folds the --verify-audit result into a verdict (absent: says it was not run). */
function verification(v: Verdict, ctx: JudgeContext): void {
  const r = ctx.verification;
  if (!r) {
    v.note('the audit log itself was not verified (run with --verify-audit)');
    return;
  }
  switch (r.status) {
    case 'ok':
      if (r.signatures_checked) v.note(`audit verify: ${r.summary}`);
      else v.add('partial', `audit verify: ${r.summary}, but no public key was found to check checkpoint signatures`, 'Set audit.checkpoint.public_key_file (keep a copy of that key off this host).');
      return;
    case 'torn':
      v.add('partial', `audit verify: ${r.summary}`, 'Restart the gateway to seal the torn line, then verify again.');
      return;
    case 'broken':
      v.add('not_met', `audit verify: ${r.summary}${r.breaks.length ? `; ${r.breaks.slice(0, 3).join('; ')}` : ''}`, 'Investigate each break gatehouse audit verify lists (someone altered or removed records), move the damaged files aside and keep them as evidence.');
      return;
    case 'absent':
      v.add('partial', `audit verify: ${r.summary}`, 'Run the report where the gateway\'s state directory is, or after the gateway has started once.');
      return;
    case 'error':
      v.add('not_met', `audit verify could not run: ${r.summary}`, 'Run gatehouse audit verify to see why the log cannot be read.');
      return;
    case 'disabled':
      return;
  }
}

/** HIPAA 164.312(c)(1), PCI 10.3.4: the hash chain and signed checkpoints, and (with --verify-audit) the log as it is. */
export function auditIntegrity(ctx: JudgeContext): Judgement {
  if (!ctx.cfg.audit.enabled) return AUDIT_OFF;
  const v = fromChecks(new Verdict(), ctx, { failNotMet: ['audit.checkpoint_key'] });
  verification(v, ctx);
  return v.done('every record is hash-chained to the one before and checkpoints are signed with Ed25519 (audit.checkpoint_key passes): gatehouse audit verify finds modified, deleted, inserted and reordered records');
}

/** PCI 10.3.2: files only the gateway's account can touch, and a change that verify would show. */
export function auditProtected(ctx: JudgeContext): Judgement {
  if (!ctx.cfg.audit.enabled) return AUDIT_OFF;
  const v = fromChecks(new Verdict(), ctx, { failNotMet: ['state.permissions', 'audit.checkpoint_key'] });
  verification(v, ctx);
  return v.done('audit files are created 0600 in a 0700 directory and only appended to; a change by anyone else is detectable through the hash chain and signed checkpoints');
}

/** The syslog and http audit sinks with the host each sends to (undefined: an http URL that does not parse). */
function networkSinks(ctx: JudgeContext): { index: number; type: string; host: string | undefined; loopback: boolean }[] {
  return ctx.cfg.audit.sinks.flatMap((s, index) => {
    if (s.type !== 'syslog' && s.type !== 'http') return [];
    let host: string | undefined = s.type === 'syslog' ? s.host : undefined;
    if (s.type === 'http') {
      try {
        host = new URL(s.url).hostname;
      } catch {
        host = undefined;
      }
    }
    return [{ index, type: s.type === 'syslog' ? `syslog (${s.transport})` : 'http', host, loopback: host !== undefined && isLoopbackHost(host) }];
  });
}

/** PCI 10.3.3: a copy on a log server off this host. */
export function auditOffHost(ctx: JudgeContext): Judgement {
  if (!ctx.cfg.audit.enabled) return AUDIT_OFF;
  const v = fromChecks(new Verdict(), ctx, { warnPartial: ['audit.sink_transport'], failPartial: ['tls.outbound_clients'] });
  const remote = ctx.check('audit.remote_sink');
  const sinks = networkSinks(ctx);
  // A relay on loopback (rsyslog, a collector agent) may well forward off the host: the gateway cannot see whether it does.
  const relayOnly = sinks.length > 0 && sinks.every((s) => s.loopback);
  if (!remote) v.add('partial', 'doctor check audit.remote_sink is not in this version of the doctor: its evidence is missing');
  else if (remote.status === 'warn' || remote.status === 'fail') v.add(relayOnly ? 'partial' : 'not_met', `audit.remote_sink warns: ${remote.detail}`, remote.fix);
  return v.done(remote?.detail ?? '');
}

/** PCI 10.2.1: the gateway's audit log on and fail-closed. */
export function auditEnabled(ctx: JudgeContext): Judgement {
  if (!ctx.cfg.audit.enabled) return AUDIT_OFF;
  const v = fromChecks(new Verdict(), ctx, { warnPartial: ['audit.on_failure'] });
  return v.done('audit.enabled is true and audit.on_failure is closed: no audited operation runs unrecorded');
}

/** PCI 10.5.1: nothing removed before twelve months. */
export function retention(ctx: JudgeContext): Judgement {
  const { audit } = ctx.cfg;
  if (!audit.enabled) return AUDIT_OFF;
  const v = new Verdict();
  const age = audit.retention.max_age;
  if (age !== undefined && age < PCI_MIN_RETENTION_MS) {
    v.add('not_met', `audit.retention.max_age is ${formatDuration(age)}: closed files are removed before 12 months`, 'Set audit.retention.max_age: 366d or more (12 months across a 29 February), or remove it to keep everything.');
  }
  if (audit.retention.max_files !== undefined) {
    v.add('partial', `audit.retention.max_files is ${audit.retention.max_files}: how much history that keeps depends on volume (files rotate at audit.rotation.max_size or max_age, ${formatDuration(audit.rotation.max_age)})`, 'Remove audit.retention.max_files and bound history by audit.retention.max_age (366d or more) instead.');
  }
  if (age !== undefined && age >= PCI_MIN_RETENTION_MS) v.note(`audit.retention.max_age is ${formatDuration(age)}, at least 12 months`);
  return v.done(age === undefined && audit.retention.max_files === undefined ? 'audit.retention is unset: the gateway keeps every audit file (the gateway\'s part is met; archiving and disk space are yours)' : undefined);
}

/** PCI 10.7.2: a failing audit log stops audited operations and says so; repeated failures alert. */
export function failureAlerts(ctx: JudgeContext): Judgement {
  if (!ctx.cfg.audit.enabled) return AUDIT_OFF;
  const v = fromChecks(new Verdict(), ctx, { warnPartial: ['audit.on_failure', 'audit.alerts'] });
  return v.done('when the audit log cannot be written audited operations are refused (audit.on_failure: closed) and an alert line is logged (alert: audit_unavailable); critical operations and repeated authentication failures alert through audit.alerts.webhook_url');
}

/** HIPAA 164.312(d): the credential proves the identity; nothing weakens the proof. */
export function entityAuthentication(ctx: JudgeContext): Judgement {
  const v = fromChecks(new Verdict(), ctx, {
    failNotMet: ['auth.methods'],
    failPartial: ['auth.secret_strength', 'auth.plaintext_passwords', 'auth.jwt_https', 'auth.trusted_identity', 'tls.client_ca', 'tls.client_revocation'],
  });
  const mtls = ctx.cfg.server.tls.client_auth !== 'none' ? `, and client certificates (server.tls.client_auth: ${ctx.cfg.server.tls.client_auth})` : '';
  return v.done(`auth.methods (${ctx.cfg.auth.methods.join(', ')}) verify each credential cryptographically or against a stored hash${mtls}`);
}

/** HIPAA 164.312(e)(1), PCI 4.2.1: TLS in and out, verified, at 1.2 or newer. */
export function transmission(ctx: JudgeContext): Judgement {
  const v = fromChecks(new Verdict(), ctx, {
    failNotMet: ['tls.enabled', 'tls.min_version', 'tls.ciphers', 'tls.certificate_expiry', 'tls.key_match', 'routes.upstream_tls_verify', 'routes.upstream_tls_version', 'routes.plain_http', 'tls.outbound_clients'],
    failPartial: ['tls.dev_ca'],
    warnPartial: ['routes.plain_http', 'audit.sink_transport'],
  });
  return v.done(`clients reach the gateway over TLS (server.tls.min_version ${ctx.cfg.server.tls.min_version}) with a certificate from your CA, and upstreams over verified https or loopback`);
}

/** HIPAA 164.312(e)(2)(ii): encryption on every hop the gateway makes (authentication of the peers is (e)(1)). */
export function transmissionEncryption(ctx: JudgeContext): Judgement {
  const v = fromChecks(new Verdict(), ctx, {
    failNotMet: ['tls.enabled', 'tls.min_version', 'tls.ciphers', 'routes.upstream_tls_version', 'routes.plain_http'],
    warnPartial: ['routes.plain_http', 'audit.sink_transport'],
  });
  // A sink on loopback is a relay: the records' way off the host is its own, encrypted or not, and not seen here.
  const relays = ctx.cfg.audit.enabled ? networkSinks(ctx).filter((s) => s.loopback) : [];
  if (relays.length > 0) {
    v.add(
      'partial',
      `${relays.map((s) => `audit.sinks[${s.index}] (${s.type} to ${s.host ?? ''})`).join(', ')} hand${relays.length === 1 ? 's' : ''} the audit records to a relay on this host: whether it forwards them encrypted is not visible to the gateway`,
      'Point the sink at the log server itself (syslog transport: tls, or an https URL), or check that the relay forwards over TLS and keep that as evidence.',
    );
  }
  return v.done(`traffic to the gateway is encrypted with TLS ${ctx.cfg.server.tls.min_version === 'tls13' ? '1.3' : '1.2 or newer'}, to upstreams with TLS or over loopback, and to audit sinks off this host with TLS`);
}

/** PCI 3.5.1: the gateway keeps no bodies; end-to-end routes forward only ciphertext. */
export function storedAccountData(ctx: JudgeContext): Judgement {
  const e2e = ciphertextRoutes(ctx);
  if (e2e.length === 0) {
    return { status: 'outside_gateway', findings: ['the gateway stores no request or response bodies, and no route requires end-to-end ciphertext (routes[].end_to_end with encryption.required): how account data is stored is up to the services behind it'] };
  }
  const rest = ctx.cfg.routes.length - e2e.length;
  return {
    status: 'partial',
    findings: [`routes ${e2e.join(', ')} accept only Gatehouse ciphertext and forward it untouched: what their upstreams store of those bodies is ciphertext`, ...(rest > 0 ? [`${rest} other route(s) carry plaintext bodies: how those are stored is outside the gateway`] : [])],
    fix: 'Require ciphertext (routes[].end_to_end with encryption.required) on every route that carries account data, and keep the keys away from whoever stores it.',
  };
}

/** IPv4-mapped IPv6 addresses (::ffff:0:0/96): a prefix there counts as an IPv4 prefix 96 bits shorter. */
const MAPPED = new BlockList();
MAPPED.addSubnet('::ffff:0:0', 96, 'ipv6');

/** Entries of limits.lockout.exempt broader than LOCKOUT_BROAD_BITS (a mapped IPv6 range judged as the IPv4 one it holds). */
function broadRanges(entries: readonly string[]): string[] {
  return entries.filter((entry) => {
    const [addr = '', bits] = entry.trim().split('/');
    const family = isIP(addr);
    if (family === 0 || bits === undefined) return false;
    const n = Number(bits);
    if (family === 6 && n >= 96 && MAPPED.check(addr, 'ipv6')) return n - 96 < LOCKOUT_BROAD_BITS[4];
    return n < LOCKOUT_BROAD_BITS[family as 4 | 6];
  });
}

/** PCI 8.3.4: lock out after at most 10 invalid attempts, for at least 30 minutes, for every client. */
export function lockout(ctx: JudgeContext): Judgement {
  const { limits, auth } = ctx.cfg;
  const lo = limits.lockout;
  const v = new Verdict();
  if (!limits.enabled) v.add('not_met', 'limits.enabled is false: no lockout is enforced', 'Set limits.enabled: true (the default).');
  if (!lo.enabled) v.add('not_met', 'limits.lockout.enabled is false: credentials can be guessed without pause', 'Set limits.lockout.enabled: true (the default).');
  if (lo.max_failures > PCI_MAX_FAILURES) v.add('not_met', `limits.lockout.max_failures is ${lo.max_failures}: more than ${PCI_MAX_FAILURES} attempts before a lockout`, `Set limits.lockout.max_failures: ${PCI_MAX_FAILURES} (or fewer).`);
  if (lo.duration < PCI_MIN_LOCKOUT_MS) v.add('not_met', `limits.lockout.duration is ${formatDuration(lo.duration)}: a lockout must last at least 30 minutes`, 'Set limits.lockout.duration: 30m (or longer).');
  if (lo.window < PCI_MIN_LOCKOUT_WINDOW_MS) {
    v.add('not_met', `limits.lockout.window is ${formatDuration(lo.window)}: failures older than that are forgotten, so a client making ${lo.max_failures - 1} attempts per ${formatDuration(lo.window)} is never locked out`, 'Set limits.lockout.window: 15m (the default) or longer.');
  }
  if (auth.methods.includes('basic') && !lo.per.includes('principal')) {
    v.add('partial', 'auth.methods includes basic and limits.lockout.per does not include principal: a password can be guessed from many addresses without its user ID ever being locked', 'Add principal to limits.lockout.per (anyone who knows a user name can then lock that user out: docs/limits.md).');
  }
  const exemptFix = 'List in limits.lockout.exempt only the monitoring hosts and NAT addresses you vouch for, each a single address or a narrow range (/8 or narrower for IPv4, /32 or narrower for IPv6).';
  if (trustsEveryAddress(lo.exempt)) {
    v.add('not_met', `limits.lockout.exempt (${lo.exempt.join(', ').slice(0, 120)}) covers every address: no client is ever locked out`, exemptFix);
  } else {
    const broad = broadRanges(lo.exempt);
    if (broad.length > 0) v.add('partial', `limits.lockout.exempt lists ${broad.join(', ').slice(0, 120)}, broader than a /8 (IPv4) or /32 (IPv6): every client in it guesses without lockout`, exemptFix);
    else if (lo.exempt.length > 0) v.note(`limits.lockout.exempt lists ${lo.exempt.length} address range(s) never locked out`);
  }
  return v.done(`${lo.max_failures} failed authentications within ${formatDuration(lo.window)} lock the ${lo.per.join(' and the ')} out for ${formatDuration(lo.duration)}`);
}

/** PCI 8.6.2: no credential written in the configuration file. */
export function noHardcodedCredentials(ctx: JudgeContext): Judgement {
  const v = fromChecks(new Verdict(), ctx, { failNotMet: ['config.inline_secrets', 'auth.plaintext_passwords'] });
  const inline = ctx.check('config.inline_secrets');
  if (inline?.status === 'warn') v.add('not_met', `config.inline_secrets warns: ${inline.detail}`, inline.fix);
  return v.done(inline?.status === 'skip' ? `${inline.detail}: it holds no credential` : 'the configuration file writes no credential literally: they come from ${VAR}, *_file or the secrets store');
}

/** PCI 8.6.3: credentials of system and application accounts change, and are strong. */
export function accountCredentials(ctx: JudgeContext): Judgement {
  const { auth } = ctx.cfg;
  const v = fromChecks(new Verdict(), ctx, { failNotMet: ['auth.secret_strength', 'auth.token_rotation'], warnPartial: ['auth.token_rotation'] });
  if (auth.methods.includes('token')) {
    if (auth.token.secret !== undefined) {
      v.add('partial', 'auth.token.secret is set in configuration: the gateway cannot tell when it last changed', 'Leave auth.token.secret unset and set auth.token.rotation.every (e.g. 30d): the gateway then rotates its signing keys itself.');
    } else if (auth.token.rotation.every === undefined) {
      v.add('partial', `auth.token.rotation.every is not set: signing keys change only when an operator runs gatehouse token rotate-secret (${ctx.check('auth.token_rotation')?.detail ?? 'key age unknown'})`, 'Set auth.token.rotation.every (e.g. 30d).');
    }
  }
  if (auth.methods.includes('static') && auth.static.tokens.length > 0) {
    v.add('partial', `auth.static.tokens holds ${auth.static.tokens.length} fixed credential(s): they change only when the configuration does, which the gateway cannot date`, 'Replace static tokens with minted tokens (gatehouse token mint) or API keys with an expiry, or rotate them on the schedule of your risk analysis.');
  }
  return v.done(
    auth.token.rotation.every !== undefined
      ? `token signing keys rotate every ${formatDuration(auth.token.rotation.every)} (auth.token.rotation.every)`
      : 'no signing secret or fixed credential is kept in configuration; API keys and passwords change through gatehouse apikey and gatehouse user',
  );
}

/** A control resting on what the gateway cannot see. */
export const outsideGateway = (why: string) => (): Judgement => ({ status: 'outside_gateway', findings: [why] });

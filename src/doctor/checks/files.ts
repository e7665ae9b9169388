/** What the configuration's files say: certificate validity, key pairs, modes of keys and of the state directory. */
import { statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { X509Certificate } from 'node:crypto';
import type { CheckDefinition, DoctorContext, Finding, Outcome } from '../types.js';
import { certificateFiles, isFileError, judgeMode, keyPairs, privateFileFinding, readCertificates, readPrivateKey, secretFiles, trustedDirsOf, unreadableReason, type NamedFile, type TrustedDir } from '../files.js';
import { days, fail, judged, passed, skipped, warn } from '../outcome.js';
import { checkCrlBundle, earliestNextUpdate } from '../../tls/crl.js';
import { readFileBounded } from '../../core/files.js';
import { LAST_BACKUP_FILE } from '../../backup/index.js';
import { ancestorDirProblems, trustedDirProblem } from '../../store/index.js';

const DAY_MS = 86_400_000;
/** Seed 002: rotate before expiration; a month leaves time for a renewal that goes wrong. */
const EXPIRY_WARNING_MS = 30 * DAY_MS;

const which = (i: number, count: number): string => (count === 1 ? '' : i === 0 ? ' (first certificate)' : ` (certificate ${i + 1} of ${count})`);

/** One certificate at `now`: not yet valid or expired fails, expiring within 30 days warns. */
function judgeValidity(label: string, cert: X509Certificate, now: number): Finding | undefined {
  const from = new Date(cert.validFrom).getTime();
  const to = new Date(cert.validTo).getTime();
  if (Number.isNaN(from) || Number.isNaN(to)) return fail(`${label} has an unreadable validity period`);
  if (now < from) return fail(`${label} is not valid before ${new Date(from).toISOString()}`);
  if (now > to) return fail(`${label} expired at ${new Date(to).toISOString()}`);
  if (to - now < EXPIRY_WARNING_MS) return warn(`${label} expires in ${days(to - now)} days (${new Date(to).toISOString()})`);
  return undefined;
}

/** A CA bundle may keep a retired CA beside the new one: only a bundle with no valid CA left fails. */
function judgeFile(named: NamedFile, now: number): { finding?: Finding; until?: number } {
  let certs: X509Certificate[];
  try {
    certs = readCertificates(named.file);
  } catch (e) {
    const why = isFileError(e) ? unreadableReason(e) : 'does not hold a readable PEM certificate';
    return { finding: fail(`${named.path} ${why}`) };
  }
  const findings = certs.map((c, i) => judgeValidity(`${named.path}${which(i, certs.length)}`, c, now));
  const isBundle = named.path.endsWith('.ca_file');
  const bad = findings.filter((f): f is Finding => f !== undefined);
  const until = Math.min(...certs.map((c) => new Date(c.validTo).getTime()));
  if (bad.length === 0) return { until };
  if (isBundle && bad.length < certs.length) return { finding: warn(bad.map((f) => f.detail).join('; ')) };
  const worst = bad.find((f) => f.status === 'fail') ?? (bad[0] as Finding);
  return { finding: { status: worst.status, detail: bad.map((f) => f.detail).join('; ') } };
}

function certificateExpiry(ctx: DoctorContext): Outcome {
  const files = certificateFiles(ctx.cfg);
  if (files.length === 0) return skipped('no certificate file is configured (the development certificate is generated)');
  const results = files.map((f) => ({ f, ...judgeFile(f, ctx.now) }));
  const fine = results.filter((j) => j.until !== undefined).map((j) => `${j.f.path} valid until ${new Date(j.until as number).toISOString().slice(0, 10)}`);
  return judged(results.map((j) => j.finding), fine.join('; '));
}

function keyMatch(ctx: DoctorContext): Outcome {
  const pairs = keyPairs(ctx.cfg);
  if (pairs.length === 0) return skipped('no certificate and key file pair is configured');
  const findings = pairs.map(({ base, cert, key }): Finding | undefined => {
    let leaf: X509Certificate | undefined;
    try {
      leaf = readCertificates(cert)[0];
    } catch {
      return undefined; // tls.certificate_expiry reports an unreadable certificate
    }
    try {
      // node:crypto's checkPrivateKey compares the public half of the key with the certificate's key.
      return leaf?.checkPrivateKey(readPrivateKey(key)) ? undefined : fail(`${base}.key_file does not match ${base}.cert_file`);
    } catch (e) {
      return fail(`${base}.key_file ${isFileError(e) ? unreadableReason(e) : 'does not hold a readable PEM private key (encrypted keys are not supported)'}`);
    }
  });
  return judged(findings, pairs.map((p) => `${p.base}.key_file matches ${p.base}.cert_file`).join('; '));
}

function tlsKeyPermissions(ctx: DoctorContext): Outcome {
  const keys = keyPairs(ctx.cfg).map((p) => ({ path: `${p.base}.key_file`, file: p.key }));
  if (keys.length === 0) return skipped('no TLS key file is configured');
  return judged(keys.map(privateFileFinding), `${keys.map((k) => k.path).join(', ')}: readable by the owner only`);
}

function secretFilePermissions(ctx: DoctorContext): Outcome {
  const files = secretFiles(ctx.cfg);
  if (files.length === 0) return skipped('no secret or key file is configured (generated ones live in the state directory)');
  return judged(files.map(privateFileFinding), `${files.length} secret and key files readable by the owner only`);
}

function stateDirFindings(dir: string): { findings: (Finding | undefined)[]; detail?: string } {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { findings: [] };
    return { findings: [fail(`state_dir ${dir} ${unreadableReason(e)}`)] };
  }
  if (!st.isDirectory()) return { findings: [fail(`state_dir ${dir} is not a directory`)] };
  const uid = process.getuid?.();
  const owner = uid !== undefined && st.uid !== uid ? fail(`state_dir ${dir} is owned by another user (uid ${st.uid}): the gateway refuses it`) : undefined;
  // The state directory holds signing keys, the dev CA key and the store: group and others need no way in.
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  const loose = (st.mode & 0o022) !== 0 ? judgeMode(`state_dir ${dir}`, st) : (st.mode & 0o055) !== 0 ? warn(`state_dir ${dir} can be listed or entered by group or others (mode ${mode})`) : undefined;
  return { findings: [owner, loose], detail: `state_dir ${dir} is mode ${mode}, owned by this user` };
}

/** The other directories holding trusted files (trustedDirsOf without state_dir), labelled as the gateway's refusal names them. */
const trustedDirs = (ctx: DoctorContext): TrustedDir[] => trustedDirsOf(ctx.cfg).slice(1);

/** One such directory as the gateway judges it (prepareTrustedDir): a missing one is created 0700 at first start. */
function trustedDirFinding(label: string, dir: string): Finding | undefined {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : fail(`${label} ${dir} ${unreadableReason(e)}`);
  }
  if (!st.isDirectory()) return fail(`${label} ${dir} is not a directory`);
  const problem = trustedDirProblem(st, { rootMayOwn: true });
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  return problem === undefined ? undefined : fail(`${label} ${dir} ${problem.replace(/:.*/, '')} (mode ${mode}): the gateway refuses it`);
}

/** An existing store file, -wal or -shm made by another account: the gateway refuses to use it. */
function storeFileFindings(ctx: DoctorContext): (Finding | undefined)[] {
  const path = ctx.cfg.store.kind === 'sqlite' ? ctx.cfg.store.path : undefined;
  const uid = process.getuid?.();
  if (path === undefined || uid === undefined) return [];
  return [path, `${path}-wal`, `${path}-shm`].map((f) => {
    let st: Stats | undefined;
    try {
      st = statSync(f, { throwIfNoEntry: false });
    } catch (e) {
      return fail(`store.path ${f} ${unreadableReason(e)}`);
    }
    return st !== undefined && st.uid !== uid ? fail(`store.path ${f} is owned by another user (uid ${st.uid}): the gateway refuses it`) : undefined;
  });
}

function stateDirectory(ctx: DoctorContext): Outcome {
  if (process.platform === 'win32') return skipped('file modes are not judged on Windows');
  const dir = ctx.cfg.state_dir;
  const state = stateDirFindings(dir);
  const others = trustedDirs(ctx);
  const findings = [...state.findings, ...others.map((d) => trustedDirFinding(d.label, d.dir)), ...storeFileFindings(ctx)];
  const outside = others.length > 0 ? `; ${others.map((d) => d.label).join(', ')} closed to group and others (or not made yet)` : '';
  if (state.detail === undefined && findings.every((f) => f === undefined)) {
    return skipped(`state_dir ${dir} does not exist yet (created 0700 at first start)${outside}`);
  }
  return judged(findings, `${state.detail ?? `state_dir ${dir} does not exist yet`}${outside}`);
}

/**
 * The ancestors of state_dir and of the other trusted directories, up to `/` (ancestorDirProblems): one writable by
 * group or others without the sticky bit, or owned by a user other than this one and root, lets that user rename the
 * directory away and put their own in its place. The gateway starts anyway (a mount point owned by another account
 * is common), warning once per directory, so this is where it is flagged: fail in production, warn in development.
 * Each ancestor is reported once, naming the directories it holds.
 */
function ancestorDirectories(ctx: DoctorContext): Outcome {
  if (process.platform === 'win32') return skipped('file modes are not judged on Windows');
  const dirs = trustedDirsOf(ctx.cfg);
  const byAncestor = new Map<string, { path: string; problem: string; risk: string; fix: string; labels: string[] }>();
  for (const d of dirs) {
    for (const p of ancestorDirProblems(d.dir)) {
      const key = `${p.path}\0${p.problem}`;
      const seen = byAncestor.get(key);
      if (seen === undefined) byAncestor.set(key, { ...p, labels: [d.label] });
      else if (!seen.labels.includes(d.label)) seen.labels.push(d.label);
    }
  }
  // An ancestor of several directories: what it lets someone do is said of all of them, not of the first one's path.
  const findings = [...byAncestor.values()].map((a): Finding => {
    const risk = a.labels.length > 1 ? a.risk.replace(/ can rename .* away and put their own in its place$/, ' can rename them away and put their own in their place') : a.risk;
    return { status: ctx.severe, detail: `${a.path}, an ancestor of ${a.labels.join(', ')}, ${a.problem}: ${risk}; ${a.fix}` };
  });
  return judged(findings, `the ancestors of ${dirs.map((d) => d.label).join(', ')} up to / are owned by root or this user, and none is writable by group or others without the sticky bit`);
}

/** A last backup older than this warns (seed 003 §5 "Configure regular database backups"). */
const BACKUP_WARNING_MS = 7 * DAY_MS;

/** `gatehouse backup create` records each backup in the state directory; production wants a recent one. */
function lastBackup(ctx: DoctorContext): Outcome {
  const path = join(ctx.cfg.state_dir, LAST_BACKUP_FILE);
  let created: number;
  let file = '';
  try {
    const marker = JSON.parse(readFileBounded(path, 4096).toString('utf8')) as { created_at?: unknown; file?: unknown };
    created = typeof marker.created_at === 'string' ? Date.parse(marker.created_at) : Number.NaN;
    if (typeof marker.file === 'string') file = marker.file.slice(0, 200);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      const none = `no backup recorded in ${ctx.cfg.state_dir}: gatehouse backup create has not run here`;
      return ctx.production ? judged([warn(none)], '') : skipped(`${none} (development)`);
    }
    return judged([warn(`${path} cannot be read: the last backup is unknown`)], '');
  }
  if (!Number.isFinite(created)) return judged([warn(`${path} holds no backup time: the last backup is unknown`)], '');
  const age = ctx.now - created;
  const when = `last backup ${new Date(created).toISOString()}${file ? ` (${file})` : ''}, ${days(Math.max(0, age))} days ago`;
  if (age > BACKUP_WARNING_MS && ctx.production) return judged([warn(`${when}: older than ${days(BACKUP_WARNING_MS)} days`)], '');
  return passed(when);
}

/** A CRL whose next update is this close warns: renewing it is a scheduled job that may have stopped. */
const CRL_WARNING_MS = 3 * DAY_MS;

interface ClientCertBlock {
  path: 'server.tls' | 'metrics.tls';
  client_auth: 'none' | 'request' | 'require';
  ca_file?: string | undefined;
  crl_file?: string | undefined;
}

/** The listeners that take client certificates: the gateway's, and the metrics listener's when it runs TLS. */
function clientCertBlocks(ctx: DoctorContext): ClientCertBlock[] {
  const out: ClientCertBlock[] = [];
  const tls = ctx.cfg.server.tls;
  if (tls.enabled && tls.client_auth !== 'none') out.push({ path: 'server.tls', ...tls });
  const m = ctx.cfg.metrics;
  if (m.enabled && m.tls.enabled && m.tls.client_auth !== 'none') out.push({ path: 'metrics.tls', ...m.tls });
  return out;
}

/** One listener's CRL: present, signed by its client CA, current; the passing detail when nothing is found. */
function judgeRevocation(block: ClientCertBlock, now: number): { finding?: Finding; detail?: string } {
  const at = block.path;
  if (!block.crl_file) {
    return { finding: warn(`${at}.client_auth is ${block.client_auth} without crl_file: a leaked client certificate stays valid until it expires, unless the whole CA is replaced`) };
  }
  if (!block.ca_file) return { detail: `${at}.ca_file is not set (the development CA signs client certificates)` };
  let crls;
  try {
    crls = checkCrlBundle(readFileBounded(block.crl_file, 1 << 20).toString('utf8'), readFileBounded(block.ca_file, 1 << 20).toString('utf8'), now).crls;
  } catch (e) {
    const why = isFileError(e) ? unreadableReason(e) : (e as Error).message;
    return { finding: fail(`${at}.crl_file ${why}`) };
  }
  const next = earliestNextUpdate(crls);
  const revoked = crls.reduce((n, c) => n + c.revoked.length, 0);
  const detail = `${at}.crl_file: ${crls.length} CRL(s) signed by the client CA, ${revoked} certificate(s) revoked${next ? `, next update ${next.toISOString()}` : ''}`;
  if (next && next.getTime() - now < CRL_WARNING_MS) return { finding: warn(`${detail}: within ${days(next.getTime() - now)} days every client certificate is refused unless a new CRL is installed`) };
  return { detail };
}

/** crl_file of server.tls and metrics.tls: present with mTLS, signed by the client CA, current (seed 001: revoke a compromised credential). */
function clientRevocation(ctx: DoctorContext): Outcome {
  const blocks = clientCertBlocks(ctx);
  if (blocks.length === 0) return skipped('server.tls.client_auth is none (and metrics.tls takes no client certificates)');
  const results = blocks.map((b) => judgeRevocation(b, ctx.now));
  const details = results.map((r) => r.detail).filter((d): d is string => d !== undefined);
  if (results.every((r) => r.finding === undefined) && blocks.every((b) => !b.ca_file)) return skipped(details.join('; '));
  return judged(results.map((r) => r.finding), details.join('; '));
}

export const fileChecks: CheckDefinition[] = [
  {
    id: 'tls.client_revocation',
    title: 'Client certificates can be revoked (a current CRL)',
    source: 'seed 001 security layers ("revoke compromised token"); seed 002 security best practices §3',
    fix: 'Set server.tls.crl_file (and metrics.tls.crl_file) to the client CA\'s CRL (gatehouse certs revoke / certs crl for a certs dev CA) and renew it before its next update.',
    inspect: clientRevocation,
  },
  {
    id: 'tls.certificate_expiry',
    title: 'Certificates valid, not about to expire',
    source: 'seed 002 security best practices §3 ("rotate certificates before expiration")',
    fix: 'Renew the certificate (the gateway reloads cert_file and key_file without restart when server.tls.watch is on).',
    inspect: certificateExpiry,
  },
  {
    id: 'tls.key_match',
    title: 'Each key file matches its certificate',
    source: 'seed 004 TLS configuration §4 (certificate rotation); seed 002 security best practices §3',
    fix: 'Point key_file at the private key the certificate was issued for (unencrypted PKCS#8 or PKCS#1 PEM).',
    inspect: keyMatch,
  },
  {
    id: 'tls.key_permissions',
    title: 'TLS private keys readable by their owner only',
    source: 'seed 004 TLS configuration §3 ("600 or 400")',
    fix: 'chmod 600 the key file (640 with a dedicated group at most) and chown it to the user the gateway runs as.',
    inspect: tlsKeyPermissions,
  },
  {
    id: 'files.secret_permissions',
    title: 'Secret and key files readable by their owner only',
    source: 'seed 000 secure password handling §3; seed 004 TLS configuration §3',
    fix: 'chmod 600 every *_file holding a secret or key, owned by the user the gateway runs as.',
    inspect: secretFilePermissions,
  },
  {
    id: 'state.permissions',
    title: 'State directory, and the store, audit and spool directories, closed to group and others',
    source: 'seed 003 §3 ("secure master key"); seed 004 TLS configuration §3',
    fix: 'chmod 700 the state directory (state_dir or $GATEHOUSE_HOME), and the directories of store.path, audit.dir and spool_dir, and chown them to the user the gateway runs as; remove a store file another account made.',
    inspect: stateDirectory,
  },
  {
    id: 'state.ancestor_dirs',
    title: 'No other user can replace the state directory through one of its parents',
    source: 'seed 003 §3 ("secure master key"); OpenSSH StrictModes (every component of the path)',
    fix: 'chmod go-w each parent directory named (or chmod +t, as /tmp), chown it to root or the gateway\'s user, or move the state (state_dir, store.path, audit.dir, spool_dir) under a path only root and the gateway\'s user can write.',
    inspect: ancestorDirectories,
  },
  {
    id: 'state.backup',
    title: 'Recent encrypted backup of the state',
    source: 'seed 003 §5 ("Configure regular database backups") and §10 ("Plan for backup and disaster recovery"); seed 004 ("Implement backup and recovery procedures")',
    fix: 'Schedule gatehouse backup create --out FILE --key-file KEY (daily, say) with the key kept off this machine, and check copies with gatehouse backup verify.',
    inspect: lastBackup,
  },
];

import { lstatSync, mkdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GatehouseError } from '../core/errors.js';

/**
 * Why a directory may not hold files the gateway trusts, or undefined when it may: writable by group or others, or
 * owned by another user than this process's (`rootMayOwn`: or root's, as /var/lib is). Undefined on Windows.
 */
export function trustedDirProblem(st: Stats, opts: { rootMayOwn: boolean }): string | undefined {
  if (process.platform === 'win32') return undefined;
  if ((st.mode & 0o022) !== 0) return 'is writable by group or others: chmod 700 it';
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && !(opts.rootMayOwn && st.uid === 0)) return `is owned by another user (uid ${st.uid})`;
  return undefined;
}

/** Creates `dir` 0700 when missing, then refuses it (GH_CONFIG_INVALID naming `label` and the path) as trustedDirProblem judges. */
function prepareDir(dir: string, label: string, rootMayOwn: boolean): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GatehouseError('GH_CONFIG_INVALID', `${label} ${dir} cannot be created${code ? ` (${code})` : ''}`, { cause: e });
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new GatehouseError('GH_CONFIG_INVALID', `${label} ${dir} is not a directory`);
  const problem = trustedDirProblem(st, { rootMayOwn });
  if (problem !== undefined) throw new GatehouseError('GH_CONFIG_INVALID', `${label} ${dir} ${problem}`);
}

/**
 * The state directory holds what the gateway trusts (token signing keys, the dev CA key, the users file, the store
 * with its API keys and approvals, the audit keys). Whoever else can write into it could plant or swap any of them,
 * so a directory writable by group or others, or owned by another user, is refused, as OpenSSH's StrictModes does —
 * by the gateway before it starts, and by every CLI command before it reads or writes state there.
 * A symlinked state directory is judged by the directory it points to. Created 0700 when missing.
 */
export function prepareStateDir(dir: string): void {
  prepareDir(dir, 'state_dir', false);
}

/**
 * The same rule for the other directories that hold trusted files and may lie outside state_dir: the one holding
 * store.path (and its -wal and -shm), audit.dir, an HTTP audit sink's spool_dir. Whoever can write there could plant
 * a store with their own API key, delete a revocation, or link a batch name to a private file the sink then posts.
 * Owned by root is accepted too (a packaged /var/lib/gatehouse, or /var/lib itself for store.path /var/lib/gh.db).
 */
export function prepareTrustedDir(dir: string, label: string): void {
  prepareDir(dir, label, true);
}

/** One ancestor of a trusted directory through which someone else could swap that directory for their own. */
export interface AncestorDirProblem {
  /** The ancestor, as a real path (symbolic links resolved). */
  path: string;
  /** Why, with its mode in octal and its owner's uid: "is writable by group or others without the sticky bit (mode 0777, owner uid 0)". */
  problem: string;
  /** What that lets someone do: "whoever can write it can rename /srv/shared/gh away and put their own in its place". */
  risk: string;
  /** What to do about it. */
  fix: string;
}

/** Deeper than this the walk stops and says so (PATH_MAX 4096 allows at most 2048 components). */
export const MAX_ANCESTOR_DEPTH = 256;

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** The real path of `dir`, or of its nearest existing ancestor while `dir` is not made yet (undefined when none resolves). */
function realExisting(dir: string): { real: string; exists: boolean } | undefined {
  let p = resolve(dir);
  for (let i = 0; i <= MAX_ANCESTOR_DEPTH; i++) {
    try {
      return { real: realpathSync.native(p), exists: i === 0 };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined;
    }
    const up = dirname(p);
    if (up === p) return undefined;
    p = up;
  }
  return undefined;
}

/**
 * The ancestors of `dir` through which someone other than this process's user and root could replace it, as
 * OpenSSH's StrictModes judges every component of a path: whoever can write to a parent can rename the directory away
 * and put their own in its place (planted keys, users file, a store with their own API key). `dir` is first resolved
 * to its real path (a directory not made yet: its nearest existing ancestor, which it would be made in), then each
 * ancestor up to `/` is lstat-ed, not followed: an ancestor writable by group or others WITHOUT the sticky bit (with
 * it, as /tmp, others cannot rename entries they do not own), or owned by a user other than this one and root, is a
 * problem. `dir` itself is not judged here (trustedDirProblem is). Empty on Windows, or when the uid is unknown.
 */
export function ancestorDirProblems(dir: string): AncestorDirProblem[] {
  if (process.platform === 'win32') return [];
  const uid = process.getuid?.();
  if (uid === undefined) return [];
  const found = realExisting(dir);
  if (found === undefined) return [];
  const out: AncestorDirProblem[] = [];
  let p = found.exists ? dirname(found.real) : found.real;
  let child = found.exists ? found.real : resolve(dir);
  const swap = (who: string): string => `${who} can rename ${child} away and put their own in its place`;
  for (let depth = 0; ; depth++) {
    if (depth >= MAX_ANCESTOR_DEPTH) {
      out.push({ path: p, problem: `lies more than ${MAX_ANCESTOR_DEPTH} directories deep: the ancestors above it were not judged`, risk: 'unknown', fix: 'move the state to a shallower path' });
      break;
    }
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.push({ path: p, problem: `cannot be examined${code ? ` (${code})` : ''}`, risk: 'unknown', fix: 'make it readable to the gateway\'s user, or move the state elsewhere' });
      break;
    }
    const what = `(mode ${octal(st.mode)}, owner uid ${st.uid})`;
    if (st.isSymbolicLink() || !st.isDirectory()) {
      // realpath resolved every link: one here now was put there since, while this ran.
      out.push({ path: p, problem: `is no longer a directory but ${st.isSymbolicLink() ? 'a symbolic link' : 'another file'} ${what}`, risk: swap('whoever replaced it'), fix: 'find out who replaced it' });
    } else {
      if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
        out.push({ path: p, problem: `is writable by group or others without the sticky bit ${what}`, risk: swap('whoever can write it'), fix: `chmod go-w ${p} (or chmod +t, as /tmp), or move the state elsewhere` });
      }
      if (st.uid !== uid && st.uid !== 0) {
        out.push({ path: p, problem: `is owned by another user ${what}`, risk: swap(`uid ${st.uid}`), fix: `chown root (or the gateway's user) ${p}, or move the state elsewhere` });
      }
    }
    const up = dirname(p);
    if (up === p) break;
    child = p;
    p = up;
  }
  // The path as written, too: a symbolic link on it (state_dir: /srv/a/link → /data/gh) is replaced through the
  // directory holding the link, which the walk of the real path never sees. Directories already judged (by their real
  // path) are not judged twice; the links themselves are not judged (their mode means nothing).
  const judged = new Set<string>([found.real]);
  for (let q = found.real; ; ) {
    judged.add(q);
    const up = dirname(q);
    if (up === q) break;
    q = up;
  }
  let q = resolve(dir);
  for (let depth = 0; depth < MAX_ANCESTOR_DEPTH; depth++) {
    const up = dirname(q);
    if (up === q) break;
    const below = q;
    q = up;
    let st: Stats;
    let real: string;
    try {
      st = lstatSync(q);
      real = realpathSync.native(q);
    } catch {
      continue; // not made yet, or gone: the walk above judged what exists
    }
    if (st.isSymbolicLink() || judged.has(real)) continue;
    judged.add(real);
    const what = `(mode ${octal(st.mode)}, owner uid ${st.uid})`;
    const risk = `whoever can write it can replace ${below}, on the path to ${resolve(dir)}`;
    if (st.isDirectory() && (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
      out.push({ path: q, problem: `is writable by group or others without the sticky bit ${what}`, risk, fix: `chmod go-w ${q} (or chmod +t, as /tmp), or configure the real path instead of one through it` });
    }
    if (st.isDirectory() && st.uid !== uid && st.uid !== 0) {
      out.push({ path: q, problem: `is owned by another user ${what}`, risk: `uid ${st.uid} can replace ${below}, on the path to ${resolve(dir)}`, fix: `chown root (or the gateway's user) ${q}, or configure the real path instead of one through it` });
    }
  }
  return out;
}

import { mkdirSync, statSync, type Stats } from 'node:fs';
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

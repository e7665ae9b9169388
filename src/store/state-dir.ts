import { mkdirSync, statSync } from 'node:fs';
import { GatehouseError } from '../core/errors.js';

/**
 * The state directory holds what the gateway trusts (token signing keys, the dev CA key, the users file, the store
 * with its API keys and approvals, the audit keys). Whoever else can write into it could plant or swap any of them,
 * so a directory writable by group or others, or owned by another user, is refused, as OpenSSH's StrictModes does —
 * by the gateway before it starts, and by every CLI command before it reads or writes state there.
 * A symlinked state directory is judged by the directory it points to. Created 0700 when missing.
 */
export function prepareStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GatehouseError('GH_CONFIG_INVALID', `state_dir ${dir} cannot be created${code ? ` (${code})` : ''}`, { cause: e });
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new GatehouseError('GH_CONFIG_INVALID', `state_dir ${dir} is not a directory`);
  if (process.platform === 'win32') return;
  if ((st.mode & 0o022) !== 0) throw new GatehouseError('GH_CONFIG_INVALID', `state_dir ${dir} is writable by group or others: chmod 700 it`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new GatehouseError('GH_CONFIG_INVALID', `state_dir ${dir} is owned by another user (uid ${st.uid})`);
}

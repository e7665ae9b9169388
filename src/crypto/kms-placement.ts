/**
 * Where the local KMS master keys may live. A master key beside the data it protects protects nothing against whoever
 * copies the state directory (or a backup of it): they get the wrapped keys and the key that unwraps them. The
 * secrets store refuses the same layout (src/secrets/master.ts). Judged on resolved real paths, so a symbolic link
 * into the state directory counts as inside it.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** kms settings as the config schema gives them (`encryption.kms`). */
export interface KmsPlacementConfig {
  key_file?: string | undefined;
  key_env?: string | undefined;
  key_dir?: string | undefined;
}

/** `encryption.kms.key_dir`'s default: generated master keys beside the state. */
export const defaultKmsKeyDir = (stateDir: string): string => join(stateDir, 'keys', 'kms');

export const MASTER_FILE_RE = /^master-(\d{1,9})\.key$/;

/** The path with its longest existing prefix resolved through symbolic links. */
function realish(path: string): string {
  let cur = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = dirname(cur);
      if (parent === cur) return resolve(path);
      rest.push(basename(cur));
      cur = parent;
    }
  }
}

/** True when `child` is `parent` or lies under it, after resolving symbolic links. */
export function isInsideDir(child: string, parent: string): boolean {
  const r = relative(realish(parent), realish(child));
  return r === '' || (r !== '..' && !r.startsWith('..' + sep) && !isAbsolute(r));
}

/** Generated master key files (`master-N.key`) in `dir`; none when it does not exist. */
export function masterKeyFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => MASTER_FILE_RE.test(n)).sort();
}

/**
 * What production refuses about the master keys' placement, each message starting with the config path it is about:
 * a master key generated into the state directory, a key_dir or key_file inside it, and master keys left in the
 * default key_dir by an earlier rotation while an external master key is configured.
 */
export function kmsPlacementProblems(kms: KmsPlacementConfig, stateDir: string): string[] {
  const external = kms.key_file !== undefined || kms.key_env !== undefined;
  const problems: string[] = [];
  if (kms.key_file !== undefined && isInsideDir(kms.key_file, stateDir)) {
    problems.push(`encryption.kms.key_file (${kms.key_file}) is inside state_dir: whoever copies the state directory gets the master key with the keys it wraps`);
  }
  if (kms.key_dir !== undefined) {
    if (isInsideDir(kms.key_dir, stateDir)) {
      problems.push(`encryption.kms.key_dir (${kms.key_dir}) is inside state_dir: master keys there travel with every copy of the state directory`);
    }
    return problems;
  }
  const dir = defaultKmsKeyDir(stateDir);
  if (!external) {
    problems.push(`encryption.kms.key_file and encryption.kms.key_env are not set: the master key would be generated into ${dir}, beside the data it protects`);
  } else if (masterKeyFiles(dir).length > 0) {
    problems.push(`encryption.kms.key_dir is not set and ${dir} holds master keys from an earlier rotation: move them to a directory outside state_dir and set encryption.kms.key_dir to it`);
  }
  return problems;
}

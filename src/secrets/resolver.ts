/**
 * Resolves secret references (config/schema/secrets.ts) to values: `secret:` from the encrypted store, `env:` from the
 * environment, `file:` from a mounted file (seed 004: Docker secrets, Kubernetes secrets). The store is opened only
 * when a `secret:` reference is first resolved, so routes using only env: or file: need no master key.
 */
import { isAbsolute, resolve } from 'node:path';
import { statSync } from 'node:fs';
import { GatehouseError } from '../core/errors.js';
import { BoundedReadError, readFileBounded } from '../core/files.js';
import { parseSecretRef, type SecretRef } from '../config/index.js';
import type { SecretStore } from './vault.js';

export interface ResolverOptions {
  /** The store, opened on first use (undefined when no store can be opened here). */
  vault?: () => Promise<SecretStore>;
  env?: NodeJS.ProcessEnv;
  /** Base directory of relative file: references (secrets.file_dir). */
  fileDir: string;
  maxValueBytes?: number;
}

export interface SecretResolver {
  /** The value as text. Throws GH_SECRET_NOT_FOUND, GH_SECRET_INVALID or the store's errors, never quoting a value. */
  resolve(ref: SecretRef | string): Promise<string>;
  /** The absolute path a file: reference reads. */
  filePath(ref: SecretRef & { kind: 'file' }): string;
  /** A token that changes when a file: reference's file does (mtime, size, inode): how a watcher sees a rotation. */
  fileStamp(ref: SecretRef & { kind: 'file' }): string;
}

/** The text form of a reference, for messages and audit (a reference names a secret; it is not one). */
export function formatRef(ref: SecretRef): string {
  if (ref.kind === 'env') return `env:${ref.name}`;
  if (ref.kind === 'file') return `file:${ref.path}`;
  const owner = ref.owner === 'global' ? '' : `${ref.owner}/`;
  return `secret:${owner}${ref.name}${ref.version === undefined ? '' : `@${ref.version}`}`;
}

const notFound = (what: string): GatehouseError => new GatehouseError('GH_SECRET_NOT_FOUND', `${what}.`, { detail: what });

export function createResolver(opts: ResolverOptions): SecretResolver {
  const env = opts.env ?? process.env;
  const max = opts.maxValueBytes ?? 65_536;
  const filePath = (ref: SecretRef & { kind: 'file' }): string => (isAbsolute(ref.path) ? ref.path : resolve(opts.fileDir, ref.path));

  async function fromStore(ref: SecretRef & { kind: 'secret' }): Promise<string> {
    if (!opts.vault) throw new GatehouseError('GH_SECRETS_MASTER_KEY_MISSING', 'The secrets store is not available here.');
    const vault = await opts.vault();
    const bytes = await vault.get(ref.owner, ref.name, ref.version === undefined ? {} : { version: ref.version });
    const text = bytes.toString('utf8');
    bytes.fill(0);
    return text;
  }

  function fromFile(ref: SecretRef & { kind: 'file' }): string {
    const path = filePath(ref);
    let raw: Buffer;
    try {
      raw = readFileBounded(path, max);
    } catch (e) {
      if (e instanceof BoundedReadError) throw new GatehouseError('GH_SECRET_INVALID', `Secret file ${path}: ${e.message}.`);
      throw notFound(`Secret file ${path} ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read'}`);
    }
    // One trailing line break is the file's, not the secret's (`echo value > file`, kubectl --from-file).
    const text = raw.toString('utf8').replace(/\r?\n$/, '');
    raw.fill(0);
    return text;
  }

  return {
    async resolve(input) {
      const ref = typeof input === 'string' ? parseSecretRef(input) : input;
      if (typeof ref === 'string') throw new GatehouseError('GH_SECRET_INVALID', `The secret reference is invalid: ${ref}.`);
      let value: string;
      if (ref.kind === 'env') {
        const v = env[ref.name];
        if (v === undefined) throw notFound(`Environment variable ${ref.name} is not set`);
        value = v;
      } else if (ref.kind === 'file') value = fromFile(ref);
      else value = await fromStore(ref);
      if (value === '') throw new GatehouseError('GH_SECRET_INVALID', `The secret ${formatRef(ref)} is empty.`);
      return value;
    },
    filePath,
    fileStamp(ref) {
      try {
        const st = statSync(filePath(ref));
        return `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch {
        return 'missing';
      }
    },
  };
}

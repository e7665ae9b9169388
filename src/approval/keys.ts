/**
 * The approval HMAC key: what argument digests and bindings are keyed with (canonical.ts). Every gateway process
 * that shares an approval queue must hold the same key, or a grant made through one is never found by another:
 * workers on one host share <state_dir>/approval-hmac.key (created once, 0600); hosts sharing a PostgreSQL store
 * point approval.hmac_key_file at one key. Key material never appears in an error message or a log line.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { createFileOnce, readFileBounded } from '../core/files.js';

export const APPROVAL_KEY_FILE = 'approval-hmac.key';
const MIN_KEY_CHARS = 32;

export interface ApprovalKeyOptions {
  /** approval.hmac_key_file; default <stateDir>/approval-hmac.key, generated on first use. */
  keyFile?: string | undefined;
  stateDir: string;
}

function invalid(message: string, detail: string): GatehouseError {
  return new GatehouseError('GH_CRYPTO_KEY_INVALID', message, { detail });
}

/** Reads (or, at the default path, creates once) the approval HMAC key. Fails closed: no key, no approvals. */
export function loadApprovalKey(opts: ApprovalKeyOptions): Buffer {
  const file = opts.keyFile ?? join(opts.stateDir, APPROVAL_KEY_FILE);
  if (opts.keyFile === undefined) {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // Two workers starting at once keep the key that got its name first.
      createFileOnce(file, randomBytes(32).toString('base64url') + '\n', 0o600);
    } catch (cause) {
      throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The approval HMAC key cannot be created.', { detail: `${file}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, cause });
    }
  }
  let text: string;
  try {
    // A key others can read lets them test guesses of redacted arguments against the digests approvers see.
    if ((statSync(file).mode & 0o077) !== 0) throw new GatehouseError('GH_KEY_FILE_PERMISSIONS', undefined, { detail: `${file} is readable by group or others: chmod 600 it` });
    text = readFileBounded(file, 4096).toString('utf8').trim();
  } catch (cause) {
    if (cause instanceof GatehouseError) throw cause;
    throw invalid('The approval HMAC key cannot be read.', `${file}: ${(cause as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  if (text.length < MIN_KEY_CHARS) throw invalid('The approval HMAC key is too short.', `${file} holds fewer than ${MIN_KEY_CHARS} characters`);
  return Buffer.from(text, 'utf8');
}

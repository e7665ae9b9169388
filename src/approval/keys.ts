/**
 * The approval HMAC key: what argument digests and bindings are keyed with (canonical.ts). Every gateway process
 * that shares an approval queue must hold the same key, or a grant made through one is never found by another:
 * workers on one host share <state_dir>/approval-hmac.key (created once, 0600); hosts sharing a PostgreSQL store
 * point approval.hmac_key_file at one key. Key material never appears in an error message or a log line.
 */
import { join } from 'node:path';
import { loadOrCreateKeyFile, readKeyFile } from '../crypto/index.js';

export const APPROVAL_KEY_FILE = 'approval-hmac.key';

export interface ApprovalKeyOptions {
  /** approval.hmac_key_file; default <stateDir>/approval-hmac.key, generated on first use. */
  keyFile?: string | undefined;
  stateDir: string;
}

/**
 * Reads (or, at the default path, creates once) the approval HMAC key: 32 bytes as hex or base64, mode 0600 (a key
 * others can read lets them test guesses of redacted arguments against the digests approvers see). Fails closed: no
 * key, no approvals.
 */
export function loadApprovalKey(opts: ApprovalKeyOptions): Buffer {
  return opts.keyFile !== undefined ? readKeyFile(opts.keyFile) : loadOrCreateKeyFile(join(opts.stateDir, APPROVAL_KEY_FILE));
}

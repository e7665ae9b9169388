import { randomBytes } from 'node:crypto';

// Request ids: a random prefix per process and a counter, so generating one costs no syscall.
const PROCESS_PREFIX = randomBytes(6).toString('base64url');
let counter = 0;

/** A unique, non-secret id for a request (logged, returned in X-Request-Id, sent upstream). */
export function requestId(): string {
  counter = (counter + 1) >>> 0;
  return `${PROCESS_PREFIX}${counter.toString(36).padStart(6, '0')}`;
}

/** A random identifier with 128 bits of entropy, base64url. For token ids, approval ids, key ids. */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

// Inbound request ids are echoed only when they are short and plain: never a vector for log injection.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
export function isSafeRequestId(value: string | undefined): value is string {
  return value !== undefined && SAFE_REQUEST_ID.test(value);
}

/** A tenant id (seed 002's tenant → namespace hierarchy): the one grammar config, tokens, JWT claims and transit share. */
export const TENANT_RE = /^[A-Za-z0-9._:-]{1,128}$/;
/** An environment variable's name, as every `*_env` setting and `--*-env` option takes it. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const isTenantId = (value: unknown): value is string => typeof value === 'string' && TENANT_RE.test(value);

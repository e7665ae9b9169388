/**
 * From an AuditEvent to the record payload (docs/audit.md § Record).
 *
 * Field names follow seed 001's example record (timestamp, tool, subject, args, result_status, scopes, risk_level,
 * approved, tailscale{…}), so its jq queries work on the file. Seed 002's names are written alongside where they
 * differ: principal (= subject), tenant_id (= tenant), result (success | denied | error). The chain adds
 * seq, prev_hash and hash (chain.ts).
 */
import { createHash, createHmac } from 'node:crypto';
import { ERROR_CODES } from '../core/errors.js';
import type { AuditEvent } from '../core/types.js';
import { canonicalJson, DEFAULT_VALUE_LIMITS, redactedPrefix, toAuditValue, toAuditValueShared, type CopyState } from './canonical.js';

export type Redact = (value: unknown) => unknown;

/** The default redactor (the library's; the gateway passes src/redact's). */
export const IDENTITY: Redact = (v) => v;

export interface PayloadOptions {
  redact: Redact;
  /** `redact` never changes its input and returns it as it is when clean (AuditLogOptions.redactCopiesOnWrite). */
  redactCopiesOnWrite?: boolean;
  /** Values under these keys (lower-cased) are replaced by hmac:sha256:<hex>. */
  hmacKeys: ReadonlySet<string>;
  hmacKey: Buffer | undefined;
}

/** Event types starting with this are written by the audit log itself (checkpoints, seals, retention). */
export const RESERVED_EVENT_PREFIX = 'audit.';

const EVENT_TYPE_RE = /^[a-z][a-z0-9_.-]{0,63}$/;
const RESULT_STATUS = new Set(['success', 'error', 'denied']);
const SHORT = { maxDepth: 4, maxString: 1024, maxItems: 64 };
const LONG_STRING = 2048;

/** Vault-style HMAC of a value: strings as their UTF-8 bytes, anything else as its canonical JSON. */
export function hmacValue(key: Buffer, value: unknown): string {
  const text = typeof value === 'string' ? value : canonicalJson(toAuditValue(value));
  return `hmac:sha256:${createHmac('sha256', key).update(text).digest('hex')}`;
}

/**
 * Replaces, in `target` (the redacted copy), the values found under HMAC keys in `source` (the copy before
 * redaction) — so the HMAC is of the real value even when the redactor masked it.
 */
function applyHmac(source: unknown, target: unknown, keys: ReadonlySet<string>, key: Buffer, depth = 0): void {
  if (depth > 12 || source === null || target === null || typeof source !== 'object' || typeof target !== 'object') return;
  if (Array.isArray(source)) {
    if (!Array.isArray(target)) return;
    for (let i = 0; i < source.length && i < target.length; i++) applyHmac(source[i], target[i], keys, key, depth + 1);
    return;
  }
  const src = source as Record<string, unknown>;
  const dst = target as Record<string, unknown>;
  for (const k of Object.keys(src)) {
    if (!Object.hasOwn(dst, k)) continue;
    if (keys.has(k.toLowerCase())) dst[k] = hmacValue(key, src[k]);
    else applyHmac(src[k], dst[k], keys, key, depth + 1);
  }
}

/**
 * Redacts (and HMACs) a free-form value: args and metadata. A string longer than its limit is redacted before it
 * is cut (toAuditValue's redact argument): cut first, a secret across the cut would lose the tail its rule needs.
 */
export function protectValue(value: unknown, opts: PayloadOptions, state?: CopyState): unknown {
  if (value === undefined) return undefined;
  if (opts.redact === IDENTITY && opts.hmacKeys.size === 0) return state ? toAuditValueShared(value, state) : toAuditValue(value);
  if (opts.redactCopiesOnWrite && opts.hmacKeys.size === 0) {
    // The redactor copies on write and never touches its input, so a value it returns unchanged needs no second
    // copy: the common record (route name, a few short arguments) is copied at most once, often not at all.
    const own: CopyState = { digitKeys: false };
    const bounded = toAuditValueShared(value, own, DEFAULT_VALUE_LIMITS, opts.redact);
    const redacted = opts.redact(bounded);
    if (redacted === bounded) {
      if (state && own.digitKeys) state.digitKeys = true;
      return bounded;
    }
    return toAuditValue(redacted, DEFAULT_VALUE_LIMITS, 0, state);
  }
  const cut: CopyState = { digitKeys: false };
  const copy = toAuditValue(value, DEFAULT_VALUE_LIMITS, 0, cut);
  // The HMAC is of the value as given (cut); what is written, of the value redacted before it was cut.
  const source = cut.cut ? toAuditValue(value, DEFAULT_VALUE_LIMITS, 0, undefined, opts.redact) : copy;
  // toAuditValue copies again, so the HMAC pass below edits the redacted tree, never `copy`.
  const redacted = toAuditValue(opts.redact(source), DEFAULT_VALUE_LIMITS, 0, state);
  if (opts.hmacKey && opts.hmacKeys.size > 0) applyHmac(copy, redacted, opts.hmacKeys, opts.hmacKey);
  return redacted;
}

function boundedArgs(args: unknown, maxBytes: number): unknown {
  if (args === undefined) return undefined;
  const text = canonicalJson(args);
  // Bytes, not UTF-16 units: the file holds UTF-8, up to three bytes per unit.
  const bytes = utf8Length(text, maxBytes);
  if (bytes <= maxBytes) return args;
  return { _truncated: true, bytes, sha256: createHash('sha256').update(text).digest('hex') };
}

/** UTF-8 length of `text`, without encoding it when its UTF-16 length already shows it fits (≤ a third of `max`). */
const utf8Length = (text: string, max: number): number => (text.length * 3 <= max ? text.length : Buffer.byteLength(text));

/**
 * The largest args/metadata bound (audit.max_args_bytes' maximum, docs/audit.md § The record), and the largest record
 * line: readers split lines above MAX_LINE_BYTES (8 MiB), so no record may come near it. Two bounded members of
 * 1 MiB plus every other member at its own bound stay far below MAX_RECORD_BYTES.
 */
export const MAX_ARGS_BYTES = 1024 * 1024;
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

/** The payload's member names in canonical (code-unit) order: serialisation walks this instead of sorting. */
export const PAYLOAD_KEYS = [
  'action', 'approval', 'approved', 'args', 'auth_method', 'error', 'error_code', 'event_type', 'latency_ms', 'metadata',
  'method', 'namespace', 'path', 'principal', 'principal_type', 'request_id', 'resource', 'result', 'result_status',
  'risk_level', 'scopes', 'source_ip', 'status', 'subject', 'tailscale', 'tenant', 'tenant_id', 'timestamp', 'tool', 'user_agent',
] as const;

// Payloads whose args or metadata hold a key starting with a digit: JSON.stringify would not write them canonically.
const DIGIT_KEYS = new WeakSet<object>();

/** canonicalJson of a buildPayload result, without sorting the top level. */
function serializeKnown(payload: Record<string, unknown>): string {
  let out = '';
  for (const k of PAYLOAD_KEYS) {
    const v = payload[k];
    if (v === undefined) continue;
    // args and metadata are free-form; every other member is a primitive, a string list or a fixed-order object.
    out += (out.length === 0 ? '{"' : ',"') + k + '":' + (k === 'args' || k === 'metadata' ? canonicalJson(v) : JSON.stringify(v));
  }
  return out + '}';
}

/**
 * Serialises a payload from buildPayload canonically — on the hot path with one JSON.stringify, since buildPayload
 * builds every object with its members in canonical order. When it is larger than maxArgsBytes, args or metadata
 * above that size are replaced by their size and SHA-256 (one huge argument cannot blow up the log or the queue).
 */
export function serializePayload(payload: Record<string, unknown>, maxArgsBytes: number): string {
  const max = Math.min(maxArgsBytes, MAX_ARGS_BYTES);
  const text = DIGIT_KEYS.has(payload) ? serializeKnown(payload) : JSON.stringify(payload);
  if (utf8Length(text, max) <= max) return text;
  payload['args'] = boundedArgs(payload['args'], max);
  payload['metadata'] = boundedArgs(payload['metadata'], max);
  const bounded = serializeKnown(payload);
  // Cannot happen with the members' own bounds; refused (GH_AUDIT_UNAVAILABLE) rather than written past what readers take.
  if (utf8Length(bounded, MAX_RECORD_BYTES) > MAX_RECORD_BYTES) throw new RangeError('an audit record is larger than MAX_RECORD_BYTES');
  return bounded;
}

const str = (v: unknown, max = LONG_STRING): string | undefined =>
  typeof v === 'string' ? (v.length > max ? `${v.slice(0, max)}…` : v) : undefined;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

/** Seed 002's result vocabulary: a failed authentication, authorization or approval is `denied`. */
export function resultOf(event: Pick<AuditEvent, 'result_status' | 'error_code'>): 'success' | 'denied' | 'error' {
  if (event.result_status !== 'error') return event.result_status;
  const code = event.error_code;
  const status = code && Object.hasOwn(ERROR_CODES, code) ? ERROR_CODES[code as keyof typeof ERROR_CODES].status : undefined;
  return status === 401 || status === 403 || status === 429 ? 'denied' : 'error';
}

/** Checks what a caller hands emit (misuse is a TypeError, not an audit failure). */
export function checkEvent(event: AuditEvent, internal = false): void {
  if (event === null || typeof event !== 'object') throw new TypeError('an audit event must be an object');
  if (typeof event.event_type !== 'string' || !EVENT_TYPE_RE.test(event.event_type)) {
    throw new TypeError('event_type must be lower-case letters, digits and ._- (e.g. tool.call)');
  }
  if (!internal && event.event_type.startsWith(RESERVED_EVENT_PREFIX)) throw new TypeError('event types audit.* are reserved for the audit log');
  if (!RESULT_STATUS.has(event.result_status)) throw new TypeError('result_status must be success, error or denied');
}

/**
 * Scopes and tags: an array of short strings is kept as is (the common case, no copy); anything else becomes an
 * array of bounded strings. Either way JSON.stringify of it is canonical.
 */
function stringList(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  if (v.length <= SHORT.maxItems && v.every((x) => typeof x === 'string' && x.length <= SHORT.maxString)) return v as string[];
  return v.slice(0, SHORT.maxItems).map((x) => (typeof x === 'string' ? x : canonicalJson(toAuditValue(x, SHORT))).slice(0, SHORT.maxString));
}

// Built with their members in canonical order and only strings, booleans and string lists as values, so
// JSON.stringify of them is canonical (serializeKnown relies on it).
function tailscaleOf(t: AuditEvent['tailscale']): Record<string, unknown> | undefined {
  if (!t || typeof t !== 'object') return undefined;
  const tailnet = str(t.tailnet, 256);
  const name = str(t.tailscale_name, 256);
  const node = str(t.tailscale_node, 256);
  const tags = stringList(t.tailscale_tags);
  const user = str(t.tailscale_user, 256);
  if (tailnet === undefined && name === undefined && node === undefined && tags === undefined && user === undefined) return undefined;
  return { tailnet, tailscale_name: name, tailscale_node: node, tailscale_tags: tags, tailscale_user: user };
}

function approvalOf(a: AuditEvent['approval']): Record<string, unknown> | undefined {
  if (!a || typeof a !== 'object') return undefined;
  return { approver: str(a.approver, 256), break_glass: bool(a.break_glass), id: str(a.id, 256), required: bool(a.required) };
}

/** Free text is redacted whole up to this length; beyond, over a window past the cut (redactedPrefix). */
const REDACT_SPAN = 8192;

/**
 * A free-text member (path with its query, resource URI, error message, user agent) through the redactor, then cut
 * to `max`: any of them may carry a credential (a token in a path or query, an API key in a User-Agent).
 */
function freeText(v: unknown, max: number, opts: PayloadOptions): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (opts.redact === IDENTITY) return str(v, max);
  if (v.length > REDACT_SPAN) return `${redactedPrefix(v, max, opts.redact)}…`;
  return str(opts.redact(v), max);
}

/**
 * A resource id from policy (`stream:orders`, `secret:global/x`) names, never carries, a secret — and the redactor
 * would read `secret:…` as a key and its value. A URI with an authority, query or fragment (an MCP resource a client
 * asked for) may carry one in its userinfo or query: only those are redacted.
 */
const URI_PARTS = /:\/\/|[?#@\s]/;

/** The record payload for an event: every field of docs/audit.md § Record except the chain fields. */
export function buildPayload(event: AuditEvent, timestamp: string, opts: PayloadOptions): Record<string, unknown> {
  const subject = str(event.subject, 256);
  const tenant = str(event.tenant, 256);
  const state: CopyState = { digitKeys: false };
  const args = protectValue(event.args, opts, state);
  const metadata = protectValue(event.metadata, opts, state);
  // Members in canonical order (PAYLOAD_KEYS): JSON.stringify of this object is the canonical form.
  const payload = {
    action: str(event.action, 256),
    approval: approvalOf(event.approval),
    approved: bool(event.approved),
    args,
    auth_method: str(event.auth_method, 32),
    // Every failed record carries an error string: seed 001's `.error | contains(...)` errors on null in jq.
    error: freeText(event.error, LONG_STRING, opts) ?? (event.result_status === 'success' ? undefined : (str(event.error_code, 64) ?? event.result_status)),
    error_code: str(event.error_code, 64),
    event_type: event.event_type,
    latency_ms: num(event.latency_ms),
    metadata,
    method: str(event.method, 32),
    namespace: str(event.namespace, 256),
    path: freeText(event.path, LONG_STRING, opts),
    principal: subject,
    principal_type: str(event.principal_type, 32),
    request_id: str(event.request_id, 128),
    resource: typeof event.resource === 'string' && URI_PARTS.test(event.resource) ? freeText(event.resource, 512, opts) : str(event.resource, 512),
    result: resultOf(event),
    result_status: event.result_status,
    risk_level: str(event.risk_level, 16),
    scopes: stringList(event.scopes),
    source_ip: str(event.source_ip, 64),
    status: num(event.status),
    subject,
    tailscale: tailscaleOf(event.tailscale),
    tenant,
    tenant_id: tenant,
    timestamp,
    tool: str(event.tool, 256),
    user_agent: freeText(event.user_agent, 512, opts),
  };
  if (state.digitKeys) DIGIT_KEYS.add(payload);
  return payload;
}

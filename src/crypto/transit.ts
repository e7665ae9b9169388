/**
 * An encryption service for applications, after Vault's transit engine (issue 7): POST /v1/encrypt/:keyring,
 * /v1/decrypt/:keyring, /v1/rewrap/:keyring, /v1/datakey/:keyring. JSON in and out, plaintext as base64 as Vault does,
 * bounded bodies, errors as {"error":{"code","message"}}. Every call is authorized (scopes and tenant, through the
 * `authorize` callback) and audited — with key ids and sizes, never plaintext.
 *
 * The tenant (the principal's, or the body's when the principal has none) and the optional caller `context` are bound
 * into the AAD, so a ciphertext issued for one tenant does not decrypt for another.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, GatehouseError, toGatehouseError } from '../core/errors.js';
import { isTenantId } from '../core/ids.js';
import { safeJsonParse } from '../core/safe.js';
import type { AuditEmitter, Principal } from '../core/types.js';
import { encodeContext } from './context.js';
import type { Keyring } from './keyring.js';
import { parseMessageHeader } from './message.js';
import { secureRandom } from './primitives.js';

export type TransitOperation = 'encrypt' | 'decrypt' | 'rewrap' | 'datakey';

export interface TransitOptions {
  /** Keyrings by name, or a lookup (e.g. CryptoRuntime.keyring). */
  keyrings: Readonly<Record<string, Keyring>> | ((name: string) => Promise<Keyring | undefined>);
  authorize(principal: Principal, operation: TransitOperation, keyring: string, tenant: string | undefined): boolean | Promise<boolean>;
  audit: AuditEmitter;
  /** Largest request body (default 1 MiB). */
  maxBodyBytes?: number;
  /** As TransitCallChecks.tenant, for every call. */
  checkTenant?(tenant: string | undefined): void | Promise<void>;
}

/** Per-call checks the caller (the gateway) adds. */
export interface TransitCallChecks {
  /**
   * Judges the tenant the call acts for — the principal's, else the one the body names — before authorization; throws
   * a GatehouseError to refuse (data residency: the tenant's data must not be processed in this region).
   */
  tenant?(tenant: string | undefined): void | Promise<void>;
}

export type TransitHandler = (req: IncomingMessage, res: ServerResponse, principal: Principal, subpath: string, checks?: TransitCallChecks) => Promise<void>;

const ROUTE_RE = /^\/v1\/(encrypt|decrypt|rewrap|datakey)\/([A-Za-z0-9._-]{1,48})\/?$/;
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

const bad = (message: string) => new GatehouseError('GH_BAD_REQUEST', message);

function base64Field(body: Record<string, unknown>, name: string, required: boolean): Buffer | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length % 4 !== 0 || !B64_RE.test(v)) throw bad(`"${name}" must be base64`);
  return Buffer.from(v, 'base64');
}

async function readJson(req: IncomingMessage, max: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new GatehouseError('GH_BODY_TOO_LARGE');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new GatehouseError('GH_BODY_TOO_LARGE');
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = size === 0 ? {} : safeJsonParse(Buffer.concat(chunks, size).toString('utf8'), max);
  } catch {
    throw bad('the body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad('the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function tenantOf(principal: Principal, body: Record<string, unknown>): string | undefined {
  const asked = body['tenant'];
  if (asked !== undefined && !isTenantId(asked)) throw bad('"tenant" is invalid');
  if (principal.tenant !== undefined && asked !== undefined && asked !== principal.tenant) throw new GatehouseError('GH_TENANT_MISMATCH');
  return principal.tenant ?? (asked as string | undefined);
}

/** Caller contexts are small labels (Vault's derivation context); a bounded size keeps the AAD bounded. */
const MAX_CONTEXT_BYTES = 1024;

function aadFor(keyring: string, tenant: string | undefined, context: Buffer | undefined): Buffer {
  if (context && context.length > MAX_CONTEXT_BYTES) throw bad(`"context" is at most ${MAX_CONTEXT_BYTES} bytes`);
  return encodeContext({ gh_purpose: 'transit', keyring, tenant, context: context?.toString('base64') });
}

function versionOf(ring: Keyring, message: Buffer): number | undefined {
  const id = parseMessageHeader(message).keyId;
  return ring.list().find((k) => k.id === id)?.version;
}

interface Outcome {
  data: Record<string, unknown>;
  meta: Record<string, unknown>;
}

async function perform(op: TransitOperation, ring: Keyring, body: Record<string, unknown>, aad: Buffer): Promise<Outcome> {
  if (op === 'encrypt') {
    const pt = base64Field(body, 'plaintext', true) as Buffer;
    const ct = await ring.encrypt(pt, aad);
    const v = versionOf(ring, ct);
    return { data: { ciphertext: ct.toString('base64'), key_version: v }, meta: { key_version: v, bytes: pt.length } };
  }
  if (op === 'decrypt') {
    const ct = base64Field(body, 'ciphertext', true) as Buffer;
    const pt = await ring.decrypt(ct, aad);
    return { data: { plaintext: pt.toString('base64') }, meta: { key_version: versionOf(ring, ct), bytes: pt.length } };
  }
  if (op === 'rewrap') {
    const ct = base64Field(body, 'ciphertext', true) as Buffer;
    const from = versionOf(ring, ct);
    const next = await ring.rewrap(ct, aad);
    const v = versionOf(ring, next);
    return { data: { ciphertext: next.toString('base64'), key_version: v }, meta: { from_version: from, key_version: v } };
  }
  const bits = body['bits'] ?? 256;
  if (bits !== 128 && bits !== 256 && bits !== 512) throw bad('"bits" is 128, 256 or 512');
  const type = body['type'] ?? 'plaintext';
  if (type !== 'plaintext' && type !== 'wrapped') throw bad('"type" is plaintext or wrapped');
  const key = secureRandom(bits / 8);
  try {
    const wrapped = await ring.encrypt(key, aad);
    const v = versionOf(ring, wrapped);
    return {
      data: { ciphertext: wrapped.toString('base64'), key_version: v, ...(type === 'plaintext' ? { plaintext: key.toString('base64') } : {}) },
      meta: { key_version: v, bits, type },
    };
  } finally {
    key.fill(0);
  }
}

export function createTransitHandler(opts: TransitOptions): TransitHandler {
  const max = opts.maxBodyBytes ?? 1024 * 1024;
  const lookup = typeof opts.keyrings === 'function' ? opts.keyrings : async (n: string) => Object.hasOwn(opts.keyrings, n) ? (opts.keyrings as Record<string, Keyring>)[n] : undefined;

  return async (req, res, principal, subpath, checks) => {
    const m = ROUTE_RE.exec(subpath);
    const op = m?.[1] as TransitOperation | undefined;
    const name = m?.[2];
    let tenant: string | undefined;
    const event = (status: 'success' | 'error' | 'denied', extra: Record<string, unknown>, err?: GatehouseError) =>
      opts.audit.emit({
        event_type: `crypto.transit.${op ?? 'unknown'}`,
        result_status: status,
        subject: principal.id,
        principal_type: principal.type,
        auth_method: principal.method,
        source_ip: principal.network.source_ip,
        ...(tenant !== undefined ? { tenant } : {}),
        resource: `keyring:${name ?? ''}`,
        action: op ?? 'unknown',
        ...(err ? { error_code: err.code, error: err.publicMessage } : {}),
        metadata: extra,
      });
    try {
      if (!m || !op || !name) throw new GatehouseError('GH_NOT_FOUND');
      if (req.method !== 'POST') throw bad('transit endpoints accept POST only');
      const body = await readJson(req, max);
      tenant = tenantOf(principal, body);
      try {
        await opts.checkTenant?.(tenant);
        await checks?.tenant?.(tenant);
      } catch (e) {
        const refused = toGatehouseError(e);
        await event('denied', {}, refused);
        send(res, refused.status, errorBody(refused));
        return;
      }
      if (!(await opts.authorize(principal, op, name, tenant))) {
        const denied = new GatehouseError('GH_FORBIDDEN', `Not allowed to ${op} with keyring ${name}.`);
        await event('denied', {}, denied);
        send(res, denied.status, errorBody(denied));
        return;
      }
      const ring = await lookup(name);
      if (!ring) throw new GatehouseError('GH_NOT_FOUND', 'No such keyring.');
      const context = base64Field(body, 'context', false);
      const outcome = await perform(op, ring, body, aadFor(name, tenant, context));
      // Audited before the answer leaves: if the audit log cannot take it, the caller gets nothing (fail closed).
      try {
        await event('success', outcome.meta);
      } catch {
        throw new GatehouseError('GH_AUDIT_UNAVAILABLE');
      }
      send(res, 200, JSON.stringify({ data: outcome.data }));
    } catch (e) {
      let err = toGatehouseError(e);
      if (err.code !== 'GH_AUDIT_UNAVAILABLE') {
        try {
          await event('error', {}, err);
        } catch {
          err = new GatehouseError('GH_AUDIT_UNAVAILABLE');
        }
      }
      if (!res.headersSent) send(res, err.status, errorBody(err));
    }
  };
}

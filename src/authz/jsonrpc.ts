/**
 * JSON-RPC 2.0 parsing for MCP routes (single and batch), strict and bounded: malformed input is a
 * GH_JSONRPC_INVALID (answered as -32700 parse error or -32600 invalid request), never forwarded.
 * The gateway forwards the canonical re-serialisation, so the upstream sees exactly what was authorized
 * (no duplicate-key or escape-sequence differential between our parser and the upstream's).
 */
import { GatehouseError } from '../core/errors.js';
import { safeJsonParse } from '../core/safe.js';

export type JsonRpcId = string | number;

export interface JsonRpcMessage {
  kind: 'request' | 'notification' | 'response';
  id: JsonRpcId | undefined;
  method: string | undefined;
  params: Record<string, unknown> | undefined;
}

export interface ParsedJsonRpc {
  batch: boolean;
  messages: JsonRpcMessage[];
  /** The body re-serialised from what was parsed. */
  canonical: Buffer;
}

export const JSONRPC_PARSE_ERROR = -32700;
export const JSONRPC_INVALID_REQUEST = -32600;

const MAX_BODY = 4 * 1024 * 1024;
const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESPONSE_KEYS = new Set(['jsonrpc', 'id', 'result', 'error']);
const METHOD_RE = /^[A-Za-z0-9_/.$-]{1,128}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string, code = JSONRPC_INVALID_REQUEST): GatehouseError {
  return new GatehouseError('GH_JSONRPC_INVALID', `Invalid JSON-RPC: ${message}`, { data: { jsonrpc_code: code } });
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function validId(id: unknown): id is JsonRpcId {
  return (typeof id === 'string' && id.length <= 256) || (typeof id === 'number' && Number.isSafeInteger(id));
}

function parseMessage(raw: unknown, where: string): JsonRpcMessage {
  if (!isPlainObject(raw)) throw invalid(`${where} is not an object`);
  if (raw['jsonrpc'] !== '2.0') throw invalid(`${where} lacks "jsonrpc": "2.0"`);
  if ('method' in raw) {
    for (const k of Object.keys(raw)) if (!REQUEST_KEYS.has(k)) throw invalid(`${where} has an unexpected member "${k.slice(0, 32)}"`);
    const method = raw['method'];
    if (typeof method !== 'string' || !METHOD_RE.test(method)) throw invalid(`${where} has an invalid method`);
    const params = raw['params'];
    if (params !== undefined && !isPlainObject(params)) throw invalid(`${where} params must be an object`);
    if ('id' in raw) {
      if (!validId(raw['id'])) throw invalid(`${where} has an invalid id`);
      return { kind: 'request', id: raw['id'], method, params };
    }
    return { kind: 'notification', id: undefined, method, params };
  }
  for (const k of Object.keys(raw)) if (!RESPONSE_KEYS.has(k)) throw invalid(`${where} has an unexpected member "${k.slice(0, 32)}"`);
  if (!validId(raw['id'])) throw invalid(`${where} is neither a request nor a response with an id`);
  if (('result' in raw) === ('error' in raw)) throw invalid(`${where} must carry exactly one of result and error`);
  return { kind: 'response', id: raw['id'], method: undefined, params: undefined };
}

/**
 * The body is read as UTF-8 (RFC 8259 §8.1), but an upstream may decode it in the charset the Content-Type declares
 * (the MCP SDK's SSE transport and Express's body-parser do): under UTF-7 `+ACI-` is a quote, so the same bytes would
 * carry another tool name. Every Content-Type the request carries (all are forwarded) must declare UTF-8 or nothing.
 */
export function checkJsonRpcCharset(contentTypes: readonly string[]): void {
  for (const ct of contentTypes) {
    for (const param of ct.split(';').slice(1)) {
      const eq = param.indexOf('=');
      if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
      const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
      if (value !== 'utf-8' && value !== 'utf8') throw invalid('the body must be UTF-8', JSONRPC_PARSE_ERROR);
    }
  }
}

/** Parses an MCP POST body. Throws GH_JSONRPC_INVALID. */
export function parseJsonRpc(body: Buffer, maxBatch: number): ParsedJsonRpc {
  if (body.length === 0) throw invalid('empty body', JSONRPC_PARSE_ERROR);
  if (body.length > MAX_BODY) throw invalid('body too large');
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw invalid('body is not UTF-8', JSONRPC_PARSE_ERROR);
  }
  let value: unknown;
  try {
    value = safeJsonParse(text, MAX_BODY);
  } catch {
    throw invalid('body is not JSON', JSONRPC_PARSE_ERROR);
  }
  const batch = Array.isArray(value);
  const items = batch ? (value as unknown[]) : [value];
  if (items.length === 0) throw invalid('empty batch');
  if (items.length > maxBatch) throw invalid(`batch larger than ${maxBatch}`);
  const messages = items.map((m, i) => parseMessage(m, batch ? `batch item ${i}` : 'message'));
  const seen = new Set<JsonRpcId>();
  for (const m of messages) {
    if (m.kind !== 'request' || m.id === undefined) continue;
    if (seen.has(m.id)) throw invalid('duplicate request id in batch');
    seen.add(m.id);
  }
  let canonical: string;
  try {
    canonical = JSON.stringify(value);
  } catch {
    // JSON.parse nests without limit but JSON.stringify recurses: a body nested past the stack is malformed input.
    throw invalid('body is nested too deeply');
  }
  return { batch, messages, canonical: Buffer.from(canonical) };
}


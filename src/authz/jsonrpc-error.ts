/**
 * JSON-RPC error responses for denials on MCP routes (HTTP 200, per JSON-RPC 2.0 §5.1), so an agent loop can
 * tell a policy refusal (-32010..-32029, `data.gatehouse_code`) from a broken transport. The codes avoid the
 * ones the MCP SDK uses itself (-32000 connection closed, -32001 request timeout, -32042 URL elicitation).
 */
import type { ErrorCode, GatehouseError } from '../core/errors.js';
import type { JsonRpcId, ParsedJsonRpc } from './jsonrpc.js';
import { JSONRPC_INVALID_REQUEST } from './jsonrpc.js';

export const POLICY_JSONRPC_CODES: Readonly<Partial<Record<ErrorCode, number>>> = Object.freeze({
  GH_SCOPE_MISSING: -32010,
  GH_FORBIDDEN: -32011,
  GH_TENANT_UNKNOWN: -32011,
  GH_TENANT_MISMATCH: -32011,
  GH_TOOL_UNKNOWN: -32012,
  GH_ARGUMENT_REFUSED: -32013,
  GH_APPROVAL_PENDING: -32020,
  GH_APPROVAL_DENIED: -32021,
  GH_APPROVAL_EXPIRED: -32022,
  GH_APPROVAL_UNAVAILABLE: -32023,
  GH_AUTH_REQUIRED: -32030,
  GH_RATE_LIMITED: -32031,
});
/** Any other 4xx refusal. */
export const JSONRPC_OTHER_REFUSAL = -32039;
export const JSONRPC_INTERNAL_ERROR = -32603;

export function jsonRpcCodeFor(err: GatehouseError): number {
  if (err.code === 'GH_JSONRPC_INVALID') {
    const c = err.data?.['jsonrpc_code'];
    return typeof c === 'number' ? c : JSONRPC_INVALID_REQUEST;
  }
  const mapped = POLICY_JSONRPC_CODES[err.code];
  if (mapped !== undefined) return mapped;
  return err.status >= 500 ? JSONRPC_INTERNAL_ERROR : JSONRPC_OTHER_REFUSAL;
}

/** One error object answering every request of the body (a batch gets an array, as JSON-RPC requires). */
export function buildJsonRpcError(err: GatehouseError, parsed: ParsedJsonRpc | undefined): Buffer {
  const data: Record<string, string | number | boolean> = { gatehouse_code: err.code };
  for (const [k, v] of Object.entries(err.data ?? {})) if (k !== 'jsonrpc_code') data[k] = v;
  const error = { code: jsonRpcCodeFor(err), message: err.publicMessage, data };
  const ids: JsonRpcId[] = parsed ? parsed.messages.filter((m) => m.kind === 'request').map((m) => m.id as JsonRpcId) : [];
  if (parsed?.batch && ids.length > 0) return Buffer.from(JSON.stringify(ids.map((id) => ({ jsonrpc: '2.0', id, error }))));
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: ids[0] ?? null, error }));
}

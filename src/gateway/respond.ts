import type { ServerResponse } from 'node:http';
import { GatehouseError, errorBody } from '../core/errors.js';
import type { Exchange } from '../core/types.js';

export type JsonRpcErrorBuilder = (err: GatehouseError, ex: Exchange) => Buffer;

/** Policy refusals on MCP routes travel as JSON-RPC errors with HTTP 200, so agents can tell them from a broken transport. */
const JSONRPC_POLICY_STATUSES = new Set([403, 404, 410]);

/** JSON-RPC error codes used when the policy engine supplies none: -32700/-32600 per JSON-RPC 2.0, -32001 policy. */
export function defaultJsonRpcError(err: GatehouseError, ex: Exchange): Buffer {
  const id = (ex.meta['jsonrpc_id'] as string | number | null | undefined) ?? null;
  const code = err.code === 'GH_JSONRPC_INVALID' ? (ex.meta['jsonrpc_parse_error'] ? -32700 : -32600) : -32001;
  const data: Record<string, unknown> = { gatehouse_code: err.code, request_id: ex.id };
  if (err.data) for (const [k, v] of Object.entries(err.data)) data[k] = v;
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message: err.publicMessage, data } }));
}

export function sendJson(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(buf.length), 'cache-control': 'no-store' });
  res.end(buf);
}

/** Answers an error: the JSON envelope of docs/errors.md, or a JSON-RPC error on MCP routes. Never a stack or internal address. */
export function sendError(ex: Exchange, err: GatehouseError, extraHeaders: Record<string, string>, jsonRpc: JsonRpcErrorBuilder | undefined): void {
  const res = ex.res;
  ex.status = err.status;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...extraHeaders, ...(err.headers ?? {}) };
  // A rate limit met once the call is classified (a per-tool limit) answers that call by its id; one met before
  // (the request not yet read) stays an HTTP 429, as a JSON-RPC error without the id would answer no request.
  const classifiedLimit = err.code === 'GH_RATE_LIMITED' && ex.operation !== undefined;
  if (ex.route?.kind === 'mcp' && (err.code === 'GH_JSONRPC_INVALID' || JSONRPC_POLICY_STATUSES.has(err.status) || classifiedLimit)) {
    // An unknown session stays HTTP 404: MCP clients start a new session on it (transports § Session Management).
    const status = err.code === 'GH_JSONRPC_INVALID' ? 400 : err.code === 'GH_MCP_SESSION_UNKNOWN' ? 404 : 200;
    ex.status = status;
    sendJson(res, status, (jsonRpc ?? defaultJsonRpcError)(err, ex), headers);
    return;
  }
  if (err.status === 503 || err.status === 429) headers['retry-after'] ??= '1';
  sendJson(res, err.status, errorBody(err, ex.id), headers);
}

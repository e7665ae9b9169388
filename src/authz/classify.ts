/**
 * MCP message → Operation (tools/call → tool + arguments; resources/read → uri; prompts/get → prompt name).
 * Invalid params of the methods policy depends on are GH_JSONRPC_INVALID (-32602), never forwarded.
 */
import { GatehouseError } from '../core/errors.js';
import type { Operation } from '../core/types.js';
import type { JsonRpcMessage } from './jsonrpc.js';
import { isPlainObject } from './jsonrpc.js';
import { MCP_RESOURCE_METHODS } from './mcp-policy.js';

export const JSONRPC_INVALID_PARAMS = -32602;
/** The MCP `_meta` key a retry carries its approval id in (header alternative: X-Gatehouse-Approval). */
export const APPROVAL_META_KEY = 'gatehouse/approval_id';

function invalidParams(message: string): GatehouseError {
  return new GatehouseError('GH_JSONRPC_INVALID', `Invalid params: ${message}`, { data: { jsonrpc_code: JSONRPC_INVALID_PARAMS } });
}

export interface ClassifiedMessage {
  operation: Operation;
  /** The approval id in params._meta, if any. */
  approvalId: string | undefined;
}

export function classifyMcpMessage(msg: JsonRpcMessage, httpMethod: string, path: string): ClassifiedMessage {
  const operation: Operation = { kind: 'mcp', method: httpMethod, path };
  if (msg.kind === 'response' || msg.method === undefined) return { operation, approvalId: undefined };
  operation.mcp_method = msg.method;
  const params = msg.params ?? {};
  if (msg.method === 'tools/call') {
    const name = params['name'];
    if (typeof name !== 'string' || name.length === 0 || name.length > 128) throw invalidParams('tools/call needs a tool name');
    const args = params['arguments'];
    if (args !== undefined && !isPlainObject(args)) throw invalidParams('tools/call arguments must be an object');
    operation.tool = name;
    operation.args = args ?? {};
  } else if (MCP_RESOURCE_METHODS.includes(msg.method)) {
    const uri = params['uri'];
    if (typeof uri !== 'string' || uri.length === 0 || uri.length > 2048) throw invalidParams(`${msg.method} needs a uri`);
    operation.resource = uri;
  } else if (msg.method === 'prompts/get') {
    const name = params['name'];
    if (typeof name !== 'string' || name.length === 0 || name.length > 128) throw invalidParams('prompts/get needs a prompt name');
    operation.resource = `prompt:${name}`;
  }
  const meta = params['_meta'];
  const hint = isPlainObject(meta) ? meta[APPROVAL_META_KEY] : undefined;
  return { operation, approvalId: typeof hint === 'string' ? hint : undefined };
}

/**
 * Filters MCP list responses (tools/list, prompts/list, resources/list) to what the caller may use, so an agent
 * never sees a tool it would be refused (list and call agree: both use Authorizer.canCallTool).
 * Handles `application/json` (one message or a batch) and `text/event-stream` (each event's data is a JSON-RPC
 * message). Fails closed: a response that cannot be parsed is replaced by a JSON-RPC error.
 */
import type { JsonRpcId } from './jsonrpc.js';
import { isPlainObject } from './jsonrpc.js';

export type ListKind = 'tools' | 'prompts' | 'resources';
/** Decides per item: tools and prompts by name, resources by uri. */
export type ListItemCheck = (kind: ListKind, key: string) => boolean;

const KEY_FIELD: Readonly<Record<ListKind, string>> = { tools: 'name', prompts: 'name', resources: 'uri' };
const MAX_FILTER_INPUT = 16 * 1024 * 1024;

function filterMessage(msg: unknown, lists: ReadonlyMap<JsonRpcId, ListKind>, keep: ListItemCheck): unknown {
  if (!isPlainObject(msg) || !('result' in msg)) return msg;
  const id = msg['id'];
  const kind = (typeof id === 'string' || typeof id === 'number') && lists.get(id);
  // An answer whose id matches no list request (`"1"` for 1, which clients comparing loosely still take) is filtered by
  // its shape: a list never passes whole because its id was spelled differently.
  if (!kind) return filterByShape(msg, keep);
  const result = msg['result'];
  if (!isPlainObject(result)) return msg;
  const items = result[kind];
  if (!Array.isArray(items)) return msg;
  const field = KEY_FIELD[kind];
  const kept = items.filter((item) => isPlainObject(item) && typeof item[field] === 'string' && keep(kind, item[field] as string));
  return { ...msg, result: { ...result, [kind]: kept } };
}

function filterJsonText(text: string, lists: ReadonlyMap<JsonRpcId, ListKind>, keep: ListItemCheck): string {
  const value: unknown = JSON.parse(text);
  const out = Array.isArray(value) ? value.map((m) => filterMessage(m, lists, keep)) : filterMessage(value, lists, keep);
  return JSON.stringify(out);
}

function unfilterable(): Buffer {
  return Buffer.from(
    JSON.stringify({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32603, message: 'Gatehouse could not filter the upstream list response; it was withheld', data: { gatehouse_code: 'GH_UPSTREAM_PROTOCOL' } },
    }),
  );
}

/** Rewrites every SSE event whose data is a list response; events with non-JSON data are dropped. */
function filterEventStream(text: string, lists: ReadonlyMap<JsonRpcId, ListKind>, keep: ListItemCheck): string {
  const lines = text.split(/\r\n|\r|\n/);
  const out: string[] = [];
  let other: string[] = [];
  let data: string[] = [];
  const flush = (): void => {
    if (data.length > 0) {
      let rewritten: string | undefined;
      try {
        rewritten = filterJsonText(data.join('\n'), lists, keep);
      } catch {
        rewritten = undefined; // not JSON: an MCP stream carries only JSON-RPC, so drop it
      }
      if (rewritten !== undefined) out.push(...other, `data: ${rewritten}`, '');
    } else if (other.length > 0) out.push(...other, '');
    other = [];
    data = [];
  };
  for (const line of lines) {
    if (line === '') flush();
    else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    else other.push(line);
  }
  flush();
  return out.join('\n') + (out.length > 0 ? '\n' : '');
}

export function makeListFilter(lists: ReadonlyMap<JsonRpcId, ListKind>, keep: ListItemCheck): (body: Buffer, contentType: string) => Buffer {
  return (body, contentType) => {
    if (body.length > MAX_FILTER_INPUT) return unfilterable();
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    try {
      const text = body.toString('utf8');
      if (type === 'text/event-stream') return Buffer.from(filterEventStream(text, lists, keep));
      if (type === 'application/json' || type.endsWith('+json')) return Buffer.from(filterJsonText(text, lists, keep));
    } catch {
      return unfilterable();
    }
    return body.length === 0 ? body : unfilterable();
  };
}

/** The JSON-RPC error an event becomes when it cannot be filtered (the stream filter's fail-closed answer). */
export const UNFILTERABLE_EVENT = unfilterable().toString('utf8');

const LIST_KINDS: readonly ListKind[] = ['tools', 'prompts', 'resources'];

/** A list answer by its shape: a result holding `kind` as an array (no request id to go by). */
function filterByShape(msg: unknown, keep: ListItemCheck): unknown {
  if (!isPlainObject(msg) || !isPlainObject(msg['result'])) return msg;
  let result = msg['result'];
  let changed = false;
  for (const kind of LIST_KINDS) {
    const items = result[kind];
    if (!Array.isArray(items)) continue;
    const field = KEY_FIELD[kind];
    // Without its request to go by, an item is judged only when it names something (a tool, prompt or resource key):
    // anything else in such an array is no list item and is left as it is.
    const kept = items.filter((item) => !(isPlainObject(item) && typeof item[field] === 'string') || keep(kind, item[field] as string));
    if (kept.length === items.length) continue;
    result = { ...result, [kind]: kept };
    changed = true;
  }
  return changed ? { ...msg, result } : msg;
}

/**
 * The filter of a stream whose requests the gateway did not see (the legacy SSE transport delivers list answers on its
 * GET stream; the POST that asked got 202): every event's data that is a JSON-RPC response holding a `tools`,
 * `prompts` or `resources` array is filtered as a list answer of that kind, whatever its id. Data that names none of
 * them passes untouched (no parse); data that names one but is not JSON throws (the caller withholds the event).
 * Data that was parsed is sent as it was read, serialized again, even when nothing was filtered out: the upstream's
 * text may hold a key twice (`"tools":[…],"tools":[…]`, two `result`s), and JSON.parse keeps the last where a client's
 * parser may keep the first — the copy the filter never looked at (RFC 8259 §4 leaves duplicates to the parser).
 */
export function makeStreamListFilter(keep: ListItemCheck): (data: string) => string {
  return (data) => {
    if (!(data.includes('"tools"') || data.includes('"prompts"') || data.includes('"resources"') || data.includes('\\u'))) return data;
    if (data.length > MAX_FILTER_INPUT) throw new RangeError('event too large to filter');
    const value: unknown = JSON.parse(data);
    const out = Array.isArray(value) ? value.map((m) => filterByShape(m, keep)) : filterByShape(value, keep);
    // The same string when the upstream wrote it canonically (its event then passes byte for byte).
    return JSON.stringify(out);
  };
}

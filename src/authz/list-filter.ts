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
const LIST_KINDS: readonly ListKind[] = ['tools', 'prompts', 'resources'];

/**
 * Whether a result is a tool's answer: CallToolResult requires `content` (MCP 2025-06-18 schema) and no list result has
 * one. A tool result is never filtered by its shape, so a tool that returns a top-level `tools` array keeps it whole; a
 * list answer never carries `content` (the upstream writes it, the caller cannot add to it).
 */
const isToolResult = (result: Record<string, unknown>): boolean => Array.isArray(result['content']);

interface Filtered {
  value: unknown;
  /** The message is a list answer (it was judged item by item, whether or not anything was removed). */
  list: boolean;
}

/**
 * One message. The list kind its id asked for (`lists`, from the POST that carried it) is filtered strictly (an item
 * naming nothing is dropped). Any other `tools`, `prompts` or `resources` array in a result that is not a tool result is
 * filtered by its shape, whatever the id: the MCP SDK routes an answer to the stream of the latest POST that used its
 * id, so a slow tools/list answer lands on another POST's stream when the client reuses the id there (or spells it
 * `"1"` for 1, which loosely comparing clients take).
 */
function filterMessage(msg: unknown, lists: ReadonlyMap<JsonRpcId, ListKind>, keep: ListItemCheck): Filtered {
  if (!isPlainObject(msg) || !isPlainObject(msg['result'])) return { value: msg, list: false };
  const id = msg['id'];
  const asked = typeof id === 'string' || typeof id === 'number' ? lists.get(id) : undefined;
  const original = msg['result'];
  const toolResult = isToolResult(original);
  let result = original;
  let list = false;
  for (const kind of LIST_KINDS) {
    const items = result[kind];
    if (!Array.isArray(items) || (kind !== asked && toolResult)) continue;
    list = true;
    const field = KEY_FIELD[kind];
    const strict = kind === asked;
    // By shape, an item is judged only when it names something (a tool, prompt or resource key): anything else in
    // such an array is no list item and is left as it is.
    const kept = items.filter((item) => (isPlainObject(item) && typeof item[field] === 'string' ? keep(kind, item[field] as string) : !strict));
    if (kept.length !== items.length) result = { ...result, [kind]: kept };
  }
  return { value: result === original ? msg : { ...msg, result }, list };
}

/** Object members written in JSON text: every string followed by a colon (strings are skipped whole, escapes included). */
function membersInText(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 0x22) continue;
    for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    let j = i + 1;
    while (j < text.length && (text[j] === ' ' || text[j] === '\t' || text[j] === '\n' || text[j] === '\r')) j++;
    if (text.charCodeAt(j) === 0x3a) n++;
  }
  return n;
}

/** Object members in a parsed value (iterative: a deeply nested answer must not overflow the stack). */
function membersInValue(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v);
      n += keys.length;
      for (const k of keys) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return n;
}

/**
 * Filters JSON text (one message or a batch). Text holding no list answer passes exactly as the upstream wrote it —
 * a tool's result keeps its numbers past 2^53 and its key order — unless it holds a key twice: JSON.parse keeps the
 * last where a client's parser may keep the first, the copy never looked at (RFC 8259 §4), so that text, and any
 * list answer, is sent serialized again from what was judged.
 */
function filterJson(text: string, lists: ReadonlyMap<JsonRpcId, ListKind>, keep: ListItemCheck): string {
  const value: unknown = JSON.parse(text);
  const out = Array.isArray(value) ? value.map((m) => filterMessage(m, lists, keep)) : [filterMessage(value, lists, keep)];
  if (!out.some((o) => o.list) && membersInText(text) === membersInValue(value)) return text;
  return JSON.stringify(Array.isArray(value) ? out.map((o) => o.value) : out[0]?.value);
}

/** Text that cannot hold a list answer: none of the keys appears, not even \u-escaped. Passes unparsed. */
const mayHoldList = (text: string): boolean => text.includes('"tools"') || text.includes('"prompts"') || text.includes('"resources"') || text.includes('\\u');

function filterJsonText(text: string, lists: ReadonlyMap<JsonRpcId, ListKind>, keep: ListItemCheck): string {
  return mayHoldList(text) ? filterJson(text, lists, keep) : text;
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

/** Rewrites every SSE event whose data is a list response; events whose data names a list key but is not JSON are dropped. */
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
        rewritten = undefined; // names a list key but is not JSON: an MCP stream carries only JSON-RPC, so drop it
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

/**
 * The filter of a stream read event by event: every event's data that is a JSON-RPC response holding a `tools`,
 * `prompts` or `resources` array (and is no tool result) is filtered as a list answer of that kind, whatever its id;
 * `lists` (the POST's own list requests, when the stream answers one) makes those ids strict. It serves the GET stream,
 * where the legacy SSE transport delivers list answers to POSTs that got 202, and every MCP POST's event stream. Data
 * that names none of the keys passes untouched (no parse); data that names one but is not JSON throws (the caller
 * withholds the event). Data holding a list answer, or a key twice, is sent serialized again from what was judged
 * (filterJson); other parsed data passes as the upstream wrote it.
 */
export function makeStreamListFilter(keep: ListItemCheck, lists: ReadonlyMap<JsonRpcId, ListKind> = new Map()): (data: string) => string {
  return (data) => {
    if (!mayHoldList(data)) return data;
    if (data.length > MAX_FILTER_INPUT) throw new RangeError('event too large to filter');
    return filterJson(data, lists, keep);
  };
}

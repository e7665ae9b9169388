/**
 * Server-sent events, incrementally: the block splitter both stream rewriters use (the legacy SSE endpoint, mcp-session.ts)
 * and the per-event filter of MCP GET streams (list answers the caller may see, authz's streamFilter).
 */
import { UNFILTERABLE_EVENT } from '../authz/index.js';

/**
 * The first complete event block at or after `from`: `end` where its terminating blank line starts (so the block
 * holds the line break ending its last line) and `next` past that blank line. Line breaks are CRLF, LF or CR; one pass.
 */
export function nextBlock(buf: Buffer, from: number): { end: number; next: number } | undefined {
  let lineStart = from;
  for (let i = from; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c !== 10 && c !== 13) continue;
    // A CR at the very end may be the first half of a CRLF: wait for the next byte.
    if (c === 13 && i + 1 >= buf.length) return undefined;
    const breakLen = c === 13 && buf[i + 1] === 10 ? 2 : 1;
    if (i === lineStart) return { end: i, next: i + breakLen };
    lineStart = i + breakLen;
    i += breakLen - 1;
  }
  return undefined;
}

/**
 * Passes each complete event's data through `filter` (the data lines joined by LF, as a client reads them) and sends
 * the event with what it returns: untouched bytes when it returns its input, else the event's other lines and one
 * `data:` line. A filter that throws has its event replaced by a JSON-RPC error (withheld: fail closed). Comment-only
 * blocks pass. An incomplete event is held until it completes, at most `max` bytes; past that `push` throws (the
 * stream is cut: an event that could be a list answer is never passed unfiltered).
 */
export class SseEventFilter {
  #held: Buffer | undefined;
  readonly #filter: (data: string) => string;
  readonly #max: number;

  constructor(filter: (data: string) => string, max: number) {
    this.#filter = filter;
    this.#max = max;
  }

  push(chunk: Buffer): Buffer {
    const buf = this.#held === undefined ? chunk : Buffer.concat([this.#held, chunk]);
    this.#held = undefined;
    const out: Buffer[] = [];
    let from = 0;
    let passFrom = 0;
    for (;;) {
      const block = nextBlock(buf, from);
      if (block === undefined) break;
      const rewritten = this.#event(buf.toString('utf8', from, block.end));
      if (rewritten !== undefined) {
        out.push(buf.subarray(passFrom, from), Buffer.from(rewritten, 'utf8'));
        passFrom = block.end;
      }
      from = block.next;
    }
    if (buf.length - from > this.#max) throw new RangeError('event too large to filter');
    if (from < buf.length) this.#held = buf.subarray(from);
    out.push(buf.subarray(passFrom, from));
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** What is held when the stream ends: an incomplete last event (it never completes, so a client drops it). */
  flush(): Buffer | undefined {
    const held = this.#held;
    this.#held = undefined;
    return held;
  }

  /** The event rewritten (its lines, without the blank line ending it), or undefined when it passes as it is. */
  #event(text: string): string | undefined {
    const lines = text.split(/\r\n|\r|\n/);
    if (lines[lines.length - 1] === '') lines.pop();
    const data: string[] = [];
    const other: string[] = [];
    for (const l of lines) {
      if (l === 'data' || l.startsWith('data:')) data.push(l.length <= 5 ? '' : l.slice(l.charCodeAt(5) === 32 ? 6 : 5));
      else other.push(l);
    }
    if (data.length === 0) return undefined;
    const joined = data.join('\n');
    let filtered: string;
    try {
      filtered = this.#filter(joined);
    } catch {
      filtered = UNFILTERABLE_EVENT;
    }
    if (filtered === joined) return undefined;
    return [...other, `data: ${filtered}`, ''].join('\n');
  }
}

/** The most of a stream held back while looking for its first event. */
const MAX_ENDPOINT_EVENT = 16 * 1024;

/**
 * Rewrites the `endpoint` event a legacy SSE stream opens with (MCP 2024-11-05: `event: endpoint`, `data: <URI>` where
 * the client POSTs): `rewrite` maps the URI onto the gateway's route and seals its session. Only the first event is
 * looked at (comment lines before it pass); the bytes are held until it is complete, at most MAX_ENDPOINT_EVENT, and
 * everything after it passes untouched. A stream whose first event is another (the streamable HTTP transport's GET
 * stream) passes unchanged, and so does an endpoint the rewrite leaves alone (undefined): its POSTs then carry an
 * unbound session, which the gateway refuses — fail closed.
 */
export class SseEndpointRewriter {
  #held: Buffer | undefined;
  #done = false;
  #lineBreak = '\n';
  readonly #rewrite: (uri: string) => string | undefined;

  constructor(rewrite: (uri: string) => string | undefined) {
    this.#rewrite = rewrite;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The bytes to send for this chunk (possibly none yet). May throw what `rewrite` throws. */
  push(chunk: Buffer): Buffer {
    if (this.#done) return chunk;
    const buf = this.#held === undefined ? chunk : Buffer.concat([this.#held, chunk]);
    this.#held = undefined;
    let from = 0;
    for (;;) {
      const block = nextBlock(buf, from);
      if (block === undefined) break;
      const lines = buf.toString('utf8', from, block.end).split(/\r\n|\r|\n/);
      if (lines.every((l) => l === '' || l.startsWith(':'))) {
        from = block.next;
        continue;
      }
      this.#done = true;
      const text = buf.toString('latin1', from, block.end);
      this.#lineBreak = text.includes('\r\n') ? '\r\n' : text.includes('\r') ? '\r' : '\n';
      const replaced = this.#endpoint(lines);
      if (replaced === undefined) return buf;
      return Buffer.concat([buf.subarray(0, from), Buffer.from(replaced, 'utf8'), buf.subarray(block.end)]);
    }
    if (buf.length - from > MAX_ENDPOINT_EVENT) {
      this.#done = true;
      return buf;
    }
    this.#held = buf.subarray(from);
    return buf.subarray(0, from);
  }

  /** What was held back when the stream ends. */
  flush(): Buffer | undefined {
    const held = this.#held;
    this.#held = undefined;
    this.#done = true;
    return held;
  }

  /** The event's lines with the endpoint's data rewritten; undefined when it is not one endpoint URI. */
  #endpoint(lines: string[]): string | undefined {
    let event = 'message';
    let dataAt = -1;
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i] as string;
      const field = l.indexOf(':') < 0 ? l : l.slice(0, l.indexOf(':'));
      if (field === 'event') event = fieldValue(l);
      else if (field === 'data') {
        if (dataAt >= 0) return undefined;
        dataAt = i;
      }
    }
    if (event !== 'endpoint' || dataAt < 0) return undefined;
    const uri = this.#rewrite(fieldValue(lines[dataAt] as string));
    if (uri === undefined) return undefined;
    lines[dataAt] = `data: ${uri}`;
    return lines.join(this.#lineBreak);
  }
}

/** A field's value: after the first colon, one leading space dropped (the SSE parsing rules). */
function fieldValue(line: string): string {
  const c = line.indexOf(':');
  if (c < 0) return '';
  return line.charCodeAt(c + 1) === 32 ? line.slice(c + 2) : line.slice(c + 1);
}

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

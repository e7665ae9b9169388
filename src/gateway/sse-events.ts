/**
 * Server-sent events, incrementally: a block splitter and the two stream rewriters built on it, the rewriter of a
 * legacy SSE stream's endpoint event and the per-event filter of MCP GET streams (list answers the caller may see,
 * authz's streamFilter). Work is linear whatever the chunking: each byte is searched at most twice and copied a bounded
 * number of times, so an upstream sending one large event in small pieces never makes the gateway rescan what it holds
 * (the event loop is shared by every request).
 */
import { UNFILTERABLE_EVENT } from '../authz/index.js';

const LF = 10;
const CR = 13;
/** The UTF-8 byte order mark a stream may open with; a client ignores it (HTML, server-sent events: parsing). */
const BOM = [0xef, 0xbb, 0xbf] as const;
const NO_BYTES = Buffer.alloc(0);

/**
 * A complete block: `bytes` runs from where the last block's bytes stopped through its terminating blank line; the
 * block's lines (each with its line break) are bytes[start, end). Before `start` may come the stream's byte order
 * mark: sent as it is, parsed as nothing. A block of no lines may be only the LF completing a CRLF whose CR ended the
 * last block in an earlier chunk.
 */
export interface SseBlock {
  readonly bytes: Buffer;
  readonly start: number;
  readonly end: number;
}

/**
 * Splits a stream into event blocks as its chunks arrive. The line scanner's state (at a line's start? was the last
 * byte a CR that an LF may complete?) carries over between chunks, so only new bytes are scanned; the incomplete block
 * is held in one growing buffer (doubling: amortised one copy a byte, no per-chunk overhead) and joined with the chunk
 * once, when it completes. A block ending in a CR is complete at once (waiting for a possible LF would stall a stream
 * whose next byte waits on the client, the endpoint event's); that LF, if it comes, is not a line.
 */
export class SseBlockSplitter {
  #chunk: Buffer = NO_BYTES;
  /** Where the current block begins in the chunk (0 when it began in an earlier one: held); scanning resumes there. */
  #blockFrom = 0;
  #held: Buffer | undefined;
  #heldLength = 0;
  /** Where the current block's lines begin in its bytes (after a leading BOM). */
  #start = 0;
  #atLineStart = true;
  #afterCr = false;
  /** Bytes of a leading BOM matched so far; -1 once past the stream's first bytes. */
  #bom = 0;
  /** Where the next LF and the next CR are in the chunk (its length: none), -1 before looking. */
  #nextLf = -1;
  #nextCr = -1;
  #scanned = 0;

  /** Bytes of the current, incomplete block held so far (the bound its users check: nothing is joined for it). */
  get held(): number {
    return this.#heldLength;
  }

  /** Bytes searched in all: at most twice the bytes pushed (once for an LF, once for a CR), whatever the chunking. */
  get scanned(): number {
    return this.#scanned;
  }

  /** Takes the next chunk; the previous one must have been scanned to its end (next() gave undefined) or taken (rest()). */
  feed(chunk: Buffer): void {
    this.#chunk = chunk;
    this.#blockFrom = 0;
    this.#nextLf = this.#nextCr = -1;
  }

  /** The next block completing in the chunk; undefined once the chunk is scanned (its incomplete end then held). */
  next(): SseBlock | undefined {
    const c = this.#chunk;
    let i = this.#bom >= 0 ? this.#skipBom(this.#blockFrom) : this.#blockFrom;
    let atLineStart = this.#atLineStart;
    let afterCr = this.#afterCr;
    while (i < c.length) {
      // The next line break, found natively; where each kind is next stays known, so no byte is searched twice.
      if (this.#nextLf < i) this.#nextLf = this.#find(LF, i);
      if (this.#nextCr < i) this.#nextCr = this.#find(CR, i);
      const at = Math.min(this.#nextLf, this.#nextCr);
      if (at > i) {
        atLineStart = false;
        afterCr = false;
        i = at;
        if (i === c.length) break;
      }
      const b = c[i] as number;
      if (b === LF && afterCr) {
        afterCr = false;
        i++;
        if (this.#heldLength > 0 || i - 1 > this.#blockFrom) continue;
        // The LF of a CRLF whose CR ended the last block, in the chunk before: sent on now, as a block of no lines.
        this.#blockFrom = i;
        this.#atLineStart = atLineStart;
        this.#afterCr = false;
        return { bytes: c.subarray(i - 1, i), start: 0, end: 0 };
      }
      afterCr = b === CR;
      if (!atLineStart) {
        atLineStart = true;
        i++;
        continue;
      }
      // A blank line: the block ends where it starts, its bytes after its line break.
      let next = i + 1;
      if (afterCr && next < c.length) {
        afterCr = false;
        if (c[next] === LF) next++;
      }
      const part = c.subarray(this.#blockFrom, next);
      const block: SseBlock = {
        bytes: this.#held === undefined ? part : Buffer.concat([this.#held.subarray(0, this.#heldLength), part]),
        start: this.#start,
        end: this.#heldLength + (i - this.#blockFrom),
      };
      this.#held = undefined;
      this.#heldLength = 0;
      this.#start = 0;
      this.#blockFrom = next;
      this.#atLineStart = true;
      this.#afterCr = afterCr;
      return block;
    }
    this.#atLineStart = atLineStart;
    this.#afterCr = afterCr;
    this.#hold(c.subarray(this.#blockFrom));
    // Scanned to its end: nothing in it is referenced any more.
    this.#chunk = NO_BYTES;
    this.#blockFrom = 0;
    return undefined;
  }

  /** Everything held and the chunk's bytes not yet given out, scanned or not; the splitter then holds nothing. */
  rest(): Buffer {
    const tail = this.#chunk.subarray(this.#blockFrom);
    const held = this.#held?.subarray(0, this.#heldLength);
    this.#held = undefined;
    this.#heldLength = 0;
    this.#chunk = NO_BYTES;
    this.#blockFrom = 0;
    return held === undefined ? tail : tail.length === 0 ? held : Buffer.concat([held, tail]);
  }

  /** Where `byte` next occurs in the chunk at or after `from` (the chunk's length when nowhere). */
  #find(byte: number, from: number): number {
    const at = this.#chunk.indexOf(byte, from);
    const to = at < 0 ? this.#chunk.length : at;
    this.#scanned += to - from;
    return to;
  }

  /** The stream's first bytes: a BOM is skipped (the line it opens is still empty); returns where scanning goes on. */
  #skipBom(i: number): number {
    const c = this.#chunk;
    for (; i < c.length; i++) {
      if (c[i] !== BOM[this.#bom]) {
        this.#bom = -1;
        return i;
      }
      this.#scanned++;
      this.#atLineStart = false; // part of the first line, unless the BOM completes
      if (++this.#bom === BOM.length) {
        this.#bom = -1;
        this.#start = BOM.length;
        this.#atLineStart = true;
        return i + 1;
      }
    }
    return i;
  }

  #hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const length = this.#heldLength + bytes.length;
    if (this.#held === undefined || length > this.#held.length) {
      const grown = Buffer.allocUnsafe(Math.max(length, 2 * (this.#held?.length ?? 0), 256));
      this.#held?.copy(grown, 0, 0, this.#heldLength);
      this.#held = grown;
    }
    bytes.copy(this.#held, this.#heldLength);
    this.#heldLength = length;
  }
}

/** A data line, by the SSE field rules: `data` alone or `data:` and a value. */
function isDataLine(line: string): boolean {
  return line === 'data' || line.startsWith('data:');
}

/** The lines of a block's text (the break ending its last line leaves a last empty string). */
function linesOf(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/**
 * Passes each complete event's data through `filter` (the data lines joined by LF, as a client reads them) and sends
 * the event with what it returns: untouched bytes when it returns its input, else the event's other lines and one
 * `data:` line. A filter that throws has its event replaced by a JSON-RPC error (withheld: fail closed). Blocks without
 * data pass. An incomplete event is held until it completes, at most `max` bytes; past that `push` throws (the stream
 * is cut: an event that could be a list answer is never passed unfiltered).
 */
export class SseEventFilter {
  readonly #split = new SseBlockSplitter();
  readonly #filter: (data: string) => string;
  readonly #max: number;

  constructor(filter: (data: string) => string, max: number) {
    this.#filter = filter;
    this.#max = max;
  }

  push(chunk: Buffer): Buffer {
    const split = this.#split;
    split.feed(chunk);
    const out: Buffer[] = [];
    for (let block = split.next(); block !== undefined; block = split.next()) {
      const rewritten = this.#event(block.bytes.toString('utf8', block.start, block.end));
      if (rewritten === undefined) out.push(block.bytes);
      else out.push(block.bytes.subarray(0, block.start), Buffer.from(rewritten, 'utf8'), block.bytes.subarray(block.end));
    }
    if (split.held > this.#max) throw new RangeError('event too large to filter');
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** What is held when the stream ends: an incomplete last event (it never completes, so a client drops it). */
  flush(): Buffer | undefined {
    const held = this.#split.rest();
    return held.length > 0 ? held : undefined;
  }

  /** The event rewritten (its lines, without the blank line ending it), or undefined when it passes as it is. */
  #event(text: string): string | undefined {
    const lines = linesOf(text);
    if (lines[lines.length - 1] === '') lines.pop();
    const data: string[] = [];
    const other: string[] = [];
    for (const l of lines) {
      if (isDataLine(l)) data.push(l.length <= 5 ? '' : l.slice(l.charCodeAt(5) === 32 ? 6 : 5));
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
 * looked at: blocks before it that dispatch none (comments, `retry:` or `id:` alone: no data line) pass, and so does a
 * leading byte order mark. The bytes are held until it is complete, at most MAX_ENDPOINT_EVENT, and everything after it
 * passes untouched. A stream whose first event is another (the streamable HTTP transport's GET stream) passes
 * unchanged, and so does an endpoint the rewrite leaves alone (undefined): its POSTs then carry an unbound session,
 * which the gateway refuses — fail closed.
 */
export class SseEndpointRewriter {
  readonly #split = new SseBlockSplitter();
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
    const split = this.#split;
    split.feed(chunk);
    const out: Buffer[] = [];
    for (let block = split.next(); block !== undefined; block = split.next()) {
      const lines = linesOf(block.bytes.toString('utf8', block.start, block.end));
      if (!lines.some(isDataLine)) {
        out.push(block.bytes);
        continue;
      }
      this.#done = true;
      const text = block.bytes.toString('latin1', block.start, block.end);
      this.#lineBreak = text.includes('\r\n') ? '\r\n' : text.includes('\r') ? '\r' : '\n';
      const replaced = this.#endpoint(lines);
      if (replaced === undefined) out.push(block.bytes);
      else out.push(block.bytes.subarray(0, block.start), Buffer.from(replaced, 'utf8'), block.bytes.subarray(block.end));
      out.push(split.rest());
      return Buffer.concat(out);
    }
    if (split.held > MAX_ENDPOINT_EVENT) {
      this.#done = true;
      out.push(split.rest());
    }
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** What was held back when the stream ends. */
  flush(): Buffer | undefined {
    this.#done = true;
    const held = this.#split.rest();
    return held.length > 0 ? held : undefined;
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

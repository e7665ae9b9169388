/**
 * Streaming redaction for log pipelines (`journalctl -f | gatehouse redact`): a Transform that redacts
 * complete lines and holds back only the unfinished last line, so memory stays bounded by the longest
 * line (at most maxLine characters). Lines are redacted in batches (all complete lines of a chunk at
 * once) for speed; a PEM block that spans batches is followed across them.
 *
 * With json: true, each line that parses as a JSON object or array is redacted structurally (key names,
 * field paths, values) and re-serialised; any other line is redacted as text.
 */
import { isAscii } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { safeJsonParse } from '../core/safe.js';
import { createRedactor, type Redactor } from './redactor.js';
import { scanPemBody } from './rules/pem.js';

export interface RedactStreamOptions {
  redactor?: Redactor;
  json?: boolean;
  /** A longer line is cut (at a blank near the limit if there is one) and redacted piece by piece. Default 16 MiB. */
  maxLine?: number;
}

/** UTF-8 bytes [0, end) as a string; ASCII (the usual log) is decoded as latin1, the same characters at twice the speed. */
function decode(buf: Buffer, end: number): string {
  return buf.toString(isAscii(buf.subarray(0, end)) ? 'latin1' : 'utf8', 0, end);
}

/** The text part of the stream, without node streams (easy to test). */
export class LineRedactor {
  private pending = '';
  /** The unfinished last line on the byte path (pushBytes): kept as bytes, decoded once it is complete. */
  private pendingBytes: Buffer = Buffer.alloc(0);
  private inPem = false;
  private readonly redactor: Redactor;
  private readonly json: boolean;
  private readonly maxLine: number;

  constructor(opts: RedactStreamOptions = {}) {
    this.redactor = opts.redactor ?? createRedactor();
    this.json = opts.json ?? false;
    this.maxLine = opts.maxLine ?? 16 * 1024 * 1024;
    if (!Number.isInteger(this.maxLine) || this.maxLine < 1024) throw new TypeError('maxLine is an integer of at least 1024');
  }

  /** Feeds text; returns the redacted output for every line completed so far. */
  push(chunk: string): string {
    let text = this.pending + chunk;
    const nl = text.lastIndexOf('\n');
    if (nl < 0) {
      if (text.length <= this.maxLine) {
        this.pending = text;
        return '';
      }
      const cut = this.cutPoint(text);
      this.pending = text.slice(cut);
      text = text.slice(0, cut);
      return this.batch(text);
    }
    this.pending = text.slice(nl + 1);
    let out = this.batch(text.slice(0, nl + 1));
    if (this.pending.length > this.maxLine) {
      const cut = this.cutPoint(this.pending);
      out += this.batch(this.pending.slice(0, cut));
      this.pending = this.pending.slice(cut);
    }
    return out;
  }

  /**
   * Feeds UTF-8 bytes; returns the redacted output for every line completed so far. The complete lines are decoded
   * in one piece into a fresh flat string (no concatenation or slicing of strings, which V8 scans up to 2× slower);
   * a newline byte never occurs inside a multi-byte character, so cutting at one is always safe. maxLine counts bytes
   * here. Do not mix with push() on one instance.
   */
  pushBytes(chunk: Buffer): string {
    const buf = this.pendingBytes.length ? Buffer.concat([this.pendingBytes, chunk]) : chunk;
    const nl = buf.lastIndexOf(10);
    if (nl < 0) {
      if (buf.length <= this.maxLine) {
        this.pendingBytes = buf;
        return '';
      }
      return this.cutBytes(buf);
    }
    // A copy of the short tail, so the whole chunk is not kept alive by it.
    this.pendingBytes = nl + 1 === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(nl + 1));
    let out = this.batch(decode(buf, nl + 1));
    if (this.pendingBytes.length > this.maxLine) out += this.cutBytes(this.pendingBytes);
    return out;
  }

  /** An overlong line on the byte path: redacts up to the cut (a blank near the limit, else a character boundary at it). */
  private cutBytes(buf: Buffer): string {
    let out = '';
    while (buf.length > this.maxLine) {
      let cut = this.maxLine;
      let blank = -1;
      for (let i = cut; i > cut - 4096; i--) {
        const c = buf[i - 1];
        if (c === 32 || c === 9) {
          blank = i;
          break;
        }
      }
      if (blank > 0) cut = blank;
      else while (cut > 0 && ((buf[cut] as number) & 0xc0) === 0x80) cut--; // not inside a multi-byte character
      out += this.batch(decode(buf, cut));
      buf = buf.subarray(cut);
    }
    this.pendingBytes = Buffer.from(buf);
    return out;
  }

  /** Flushes the last, unterminated line. */
  end(): string {
    const rest = this.pending;
    this.pending = '';
    const bytes = this.pendingBytes;
    this.pendingBytes = Buffer.alloc(0);
    // An incomplete character at the very end decodes to U+FFFD, as a StringDecoder's end() gives.
    return (rest ? this.batch(rest) : '') + (bytes.length ? this.batch(bytes.toString('utf8')) : '');
  }

  /** Where to cut an overlong line: the last blank in its final 4 KiB, else the limit. */
  private cutPoint(text: string): number {
    const limit = this.maxLine;
    for (let i = limit; i > limit - 4096; i--) {
      const c = text.charCodeAt(i - 1);
      if (c === 32 || c === 9) return i;
    }
    return limit;
  }

  private batch(text: string): string {
    if (this.inPem) {
      // The body of a PEM block begun in an earlier batch: drop it, up to and including its END line.
      const body = scanPemBody(text, 0, true);
      let end = body.end;
      if (!body.closed && text.slice(end).trim() === '') return ''; // all body so far: still inside the block
      this.inPem = false;
      if (text.charCodeAt(end) === 13) end++;
      if (text.charCodeAt(end) === 10) end++;
      text = text.slice(end);
      if (!text) return '';
    }
    if (this.json) return this.jsonLines(text);
    return this.textBatch(text);
  }

  private textBatch(text: string): string {
    const { text: out, openPem } = this.redactor.redactChunk(text);
    if (openPem) this.inPem = true;
    return out;
  }

  private jsonLines(text: string): string {
    let out = '';
    let from = 0;
    while (from < text.length) {
      const nl = text.indexOf('\n', from);
      const end = nl < 0 ? text.length : nl + 1;
      const line = text.slice(from, end);
      out += this.jsonLine(line);
      from = end;
    }
    return out;
  }

  private jsonLine(line: string): string {
    const body = line.endsWith('\r\n') ? line.slice(0, -2) : line.endsWith('\n') ? line.slice(0, -1) : line;
    const eol = line.slice(body.length);
    const first = body.trimStart()[0];
    if (first === '{' || first === '[') {
      let parsed: unknown;
      try {
        parsed = safeJsonParse(body, this.maxLine);
      } catch {
        parsed = undefined;
      }
      if (parsed !== undefined && typeof parsed === 'object' && parsed !== null) {
        return JSON.stringify(this.redactor.redactValue(parsed)) + eol;
      }
    }
    if (this.inPem) return this.batch(line);
    return this.textBatch(line);
  }
}

/** A Transform: bytes (UTF-8) in, redacted bytes out, line by line. */
export function createRedactStream(opts: RedactStreamOptions = {}): Transform {
  const lines = new LineRedactor(opts);
  return new Transform({
    // Strings written to the stream are decoded to Buffers by the writable side (decodeStrings), so every chunk
    // takes the byte path.
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        const out = lines.pushBytes(chunk);
        cb(null, out.length ? out : undefined);
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        const out = lines.end();
        cb(null, out.length ? out : undefined);
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}

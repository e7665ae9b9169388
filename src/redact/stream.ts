/**
 * Streaming redaction for log pipelines (`journalctl -f | gatehouse redact`): a Transform that redacts
 * complete lines and holds back only the unfinished last line, so memory stays bounded by the longest
 * line (at most maxLine characters). Lines are redacted in batches (all complete lines of a chunk at
 * once) for speed; a PEM block that spans batches is followed across them.
 *
 * With json: true, each line that parses as a JSON object or array is redacted structurally (key names,
 * field paths, values) and re-serialised; any other line is redacted as text.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { safeJsonParse } from '../core/safe.js';
import { createRedactor, type Redactor } from './redactor.js';
import { scanPemBody } from './rules/pem.js';

export interface RedactStreamOptions {
  redactor?: Redactor;
  json?: boolean;
  /** A longer line is cut (at a blank near the limit if there is one) and redacted piece by piece. Default 16 MiB. */
  maxLine?: number;
}

/** The text part of the stream, without node streams (easy to test). */
export class LineRedactor {
  private pending = '';
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

  /** Flushes the last, unterminated line. */
  end(): string {
    const rest = this.pending;
    this.pending = '';
    return rest ? this.batch(rest) : '';
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
  const decoder = new StringDecoder('utf8');
  return new Transform({
    transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        const out = lines.push(typeof chunk === 'string' ? chunk : decoder.write(chunk));
        cb(null, out.length ? out : undefined);
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        const out = lines.push(decoder.end()) + lines.end();
        cb(null, out.length ? out : undefined);
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}

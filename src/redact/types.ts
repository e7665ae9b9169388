import type { KeyClassifier } from './names.js';
import type { EntropyOptions } from './entropy.js';

/** What kind of secret a redaction removed; the corpus test reports recall per category. */
export type Category =
  | 'bearer'
  | 'basic'
  | 'authorization'
  | 'api_key'
  | 'password'
  | 'secret_kv'
  | 'entropy'
  | 'pem'
  | 'file_path'
  | 'url_credentials'
  | 'cli_credentials'
  | 'jwt'
  | 'gatehouse'
  | 'aws'
  | 'github'
  | 'gitlab'
  | 'slack'
  | 'stripe'
  | 'google'
  | 'llm_key'
  | 'npm'
  | 'provider'
  | 'known'
  | 'custom';

/** The replacement texts (seed 004). */
export const REDACTED = '[REDACTED]';
export const CERT_REDACTED = '[CERTIFICATE REDACTED]';
export const PATH_REDACTED = '[FILE PATH REDACTED]';

/** One stretch of text to replace. */
export interface Span {
  start: number;
  end: number;
  replacement: string;
  category: Category;
  /** Set by the rule: a rule span may be kept by the allow-list, a known secret never. */
  rule: string;
}

/** What the built-in rules need to know beyond the text: resolved configuration. */
export interface RuleOptions {
  readonly keys: KeyClassifier;
  /** Extra sensitive directories, lowercased, with forward slashes. */
  readonly dirs: readonly string[];
  readonly entropy: EntropyOptions | undefined;
}

/** Per-scan state handed to every rule. One object per engine, reset for each scan (no allocation per call). */
export class ScanContext {
  text = '';
  /** No new span may start before this: the end of the last span. */
  floor = 0;
  spans: Span[] = [];
  /** Per-rule "already looked at up to here" cursors; they keep rules linear on long runs of near-matches. */
  readonly until: Int32Array;
  /**
   * Value scans already done, so that overlapping near-matches ("key=key=key=…") never rescan the same
   * characters: [unquotedFrom, unquotedTo) ended at a stop character, and [quotedFrom, quotedTo) holds no
   * unescaped `quoteChar`.
   */
  unquotedFrom = -1;
  unquotedTo = -1;
  quoteChar = -1;
  quotedFrom = -1;
  quotedTo = -1;
  /** Set when a PEM block runs to the end of the text without its END line (the stream redactor continues it). */
  openPem = false;
  /**
   * Triggers every rule declined (or never looked at), as flat (pattern, start, end) triples in order: near a
   * span, their rules may decide differently once the span is replaced.
   */
  declined: number[] = [];

  constructor(
    readonly options: RuleOptions,
    ruleCount: number,
  ) {
    this.until = new Int32Array(ruleCount);
  }

  /** Starts a scan of `text`. */
  reset(text: string): void {
    this.text = text;
    this.floor = 0;
    this.spans = [];
    this.until.fill(0);
    this.unquotedFrom = this.unquotedTo = this.quoteChar = this.quotedFrom = this.quotedTo = -1;
    this.openPem = false;
    this.declined = [];
  }

  push(start: number, end: number, replacement: string, category: Category, rule: string): void {
    if (start < this.floor || end <= start) return;
    this.spans.push({ start, end, replacement, category, rule });
    this.floor = end;
  }
}

/** A built-in rule: literal triggers found by the scanner, and a look at each trigger's surroundings. */
export interface Rule {
  readonly id: string;
  readonly category: Category;
  /** ASCII literals, matched case-insensitively by the scanner. */
  readonly triggers: readonly string[];
  /**
   * Looks at a trigger found at [start, end). Pushes at most one span (via ctx.push) and returns true when
   * it did. Must run in time proportional to the text it looks at, and must not look at the same text
   * again for the next trigger (use ctx.until[index]).
   */
  match(ctx: ScanContext, start: number, end: number, index: number): boolean;
}

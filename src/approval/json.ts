/**
 * A strict JSON reader for HTTP bodies an approver is shown. JSON.parse keeps the last of two equal keys and rounds
 * numbers to doubles; the upstream's parser may keep the first key or read the exact number. Either way the approver
 * would be shown one request while another runs, so such a body is reported as ambiguous rather than shown.
 * RFC 8259 grammar, nothing more (no comments, no trailing commas).
 */

/** Valid JSON that different parsers read differently: duplicate keys, inexact numbers, lone surrogates. */
export class AmbiguousJsonError extends Error {}
/** Valid JSON nested deeper than an approval can bind (canonical.ts: 64). */
export class JsonTooDeepError extends Error {}

const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Sign-free (digits, exponent) of a decimal literal with no leading or trailing zeros: equal iff equal values. */
function decimal(lit: string): string {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(lit);
  if (!m) return lit;
  const frac = m[2] ?? '';
  let digits = (m[1] as string) + frac;
  let exp = Number(m[3] ?? 0) - frac.length;
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  return `${trimmed}e${exp}`;
}

/** Whether a number literal reads as exactly the double JavaScript shows (9007199254740993 does not). */
function exactNumber(lit: string, n: number): boolean {
  if (!Number.isFinite(n)) return false;
  const shown = n.toString().replace(/e\+/, 'e');
  return decimal(lit) === decimal(shown);
}

class Reader {
  i = 0;
  constructor(readonly s: string) {}

  fail(): never {
    throw new SyntaxError('not JSON');
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
      this.i++;
    }
  }

  string(): string {
    // A loop, not a regular expression: one over a 16 MB string runs out of backtracking stack.
    const s = this.s;
    let j = this.i + 1;
    for (;;) {
      if (j >= s.length) this.fail();
      const c = s.charCodeAt(j);
      if (c === 34) break;
      if (c < 32) this.fail();
      if (c === 92) {
        const e = s[j + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(j + 2, j + 6))) this.fail();
          j += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) j += 2;
        else this.fail();
      } else j++;
    }
    const raw = s.slice(this.i, j + 1);
    this.i = j + 1;
    const v = JSON.parse(raw) as string;
    // A lone surrogate is replaced (U+FFFD), refused or kept, depending on the parser.
    if (LONE_SURROGATE.test(v)) throw new AmbiguousJsonError('a string holds a lone surrogate');
    return v;
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new JsonTooDeepError('nested too deeply');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m || m[0] === '' || m[0] === '-') this.fail();
    this.i += m[0].length;
    const n = Number(m[0]);
    if (!exactNumber(m[0], n)) throw new AmbiguousJsonError('a number cannot be shown exactly');
    return n === 0 ? 0 : n;
  }

  object(depth: number): Record<string, unknown> {
    this.i++;
    const out = Object.create(null) as Record<string, unknown>;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail();
      const key = this.string();
      if (Object.hasOwn(out, key)) throw new AmbiguousJsonError('an object holds a key twice');
      this.ws();
      if (this.s[this.i++] !== ':') this.fail();
      out[key] = this.value(depth + 1);
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') this.fail();
    }
  }

  array(depth: number): unknown[] {
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail();
    }
  }
}

/**
 * The JSON value of `text`, with null-prototype objects. Throws SyntaxError when it is not JSON, AmbiguousJsonError
 * when it is JSON that parsers disagree on, JsonTooDeepError past 64 levels.
 */
export function parseStrictJson(text: string): unknown {
  const r = new Reader(text);
  const v = r.value(0);
  r.ws();
  if (r.i !== text.length) r.fail();
  return v;
}

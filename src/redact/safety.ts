/**
 * The safety check every user-supplied pattern passes before it is compiled (redact.rules, redact.allow,
 * `gatehouse redact --rules FILE`). JavaScript regexes backtrack, so a careless pattern can take seconds
 * per log line (ReDoS). A pattern is accepted only if it parses in a small subset and its shape keeps
 * matching linear on any input:
 *
 *  - no backreferences (\1, \k<n>) and no lookarounds ((?=, (?!, (?<=, (?<!);
 *  - no repeated group that itself repeats, alternates or has an optional part ((a+)+, (a|a)*, (\w+\s?)*, (a?){9});
 *  - no two long repetitions that can meet on the same characters (\d+\d+, .*.*, \w+\s*\w+, \w+_\w+);
 *  - bounded repetitions that meet on the same characters may split them at most MAX_WAYS ways: a{0,64}a{0,64}b
 *    tries 65² splits at every start (and four of them 65⁴: a minute on 200 characters), \d{1,3}\d{1,3} 9;
 *  - a long repetition that can still fail after it must be preceded by a character it cannot match
 *    (`token=\w+;` is fine, `\w+@` and `a\w+b` are not: each start position would rescan the run);
 *  - no long repetition inside an alternation; nothing that matches the empty string;
 *  - bounded size: at most 512 characters, 20 groups, 16 repetitions, counts up to 1000.
 */

export class UnsafePatternError extends Error {}

const MAX_PATTERN = 512;
const MAX_GROUPS = 20;
const MAX_REPEATS = 16;
const MAX_COUNT = 1000;
/** Repetitions longer than this count as "long" (unbounded for practical purposes). */
const LONG = 64;
/**
 * Bounded repetitions next to each other that can match the same characters: at most this many ways to split a
 * run between them (the product of their ranges). 64 ways cost about 0.25 s per MB of worst-case input.
 */
const MAX_WAYS = 64;

/** A set of characters: a 128-bit ASCII bitmap and whether it contains any non-ASCII character. */
class CharSet {
  readonly bits = new Uint32Array(4);
  nonAscii = false;
  add(c: number): void {
    if (c < 128) this.bits[c >>> 5]! |= 1 << (c & 31);
    else this.nonAscii = true;
  }
  addRange(a: number, b: number): void {
    for (let c = a; c <= Math.min(b, 127); c++) this.add(c);
    if (b >= 128) this.nonAscii = true;
  }
  addSet(o: CharSet): void {
    for (let k = 0; k < 4; k++) this.bits[k]! |= o.bits[k]!;
    this.nonAscii ||= o.nonAscii;
  }
  negate(): CharSet {
    const n = new CharSet();
    for (let k = 0; k < 4; k++) n.bits[k] = ~this.bits[k]! >>> 0;
    n.nonAscii = true;
    return n;
  }
  overlaps(o: CharSet): boolean {
    for (let k = 0; k < 4; k++) if ((this.bits[k]! & o.bits[k]!) !== 0) return true;
    return this.nonAscii && o.nonAscii;
  }
  foldCase(): void {
    for (let c = 65; c <= 90; c++) {
      const has = (x: number) => (this.bits[x >>> 5]! & (1 << (x & 31))) !== 0;
      if (has(c) || has(c + 32)) {
        this.add(c);
        this.add(c + 32);
      }
    }
  }
}

const setOf = (chars: string): CharSet => {
  const s = new CharSet();
  for (const ch of chars) s.add(ch.charCodeAt(0));
  return s;
};
const DIGITS = (() => { const s = new CharSet(); s.addRange(48, 57); return s; })();
const WORD = (() => { const s = new CharSet(); s.addRange(48, 57); s.addRange(65, 90); s.addRange(97, 122); s.add(95); return s; })();
const SPACES = (() => { const s = setOf(' \t\n\r\v\f'); s.nonAscii = true; return s; })();
const DOT = (() => { const s = setOf('\n\r').negate(); return s; })();

interface Term {
  kind: 'chars' | 'group' | 'assert';
  set: CharSet; // every character the term can match (groups: the union)
  min: number;
  max: number;
  alts?: Term[][]; // groups
}

/** Parses the subset; throws UnsafePatternError naming the first problem. */
class Parser {
  private i = 0;
  groups = 0;
  repeats = 0;
  constructor(private readonly src: string, private readonly fold: boolean) {}

  parse(): Term[][] {
    const alts = this.alternatives(0);
    if (this.i < this.src.length) throw new UnsafePatternError(`unbalanced ")" at ${this.i}`);
    return alts;
  }

  private alternatives(depth: number): Term[][] {
    if (depth > 10) throw new UnsafePatternError('groups nested too deeply');
    const alts: Term[][] = [[]];
    while (this.i < this.src.length) {
      const c = this.src[this.i]!;
      if (c === ')') break;
      if (c === '|') {
        this.i++;
        alts.push([]);
        continue;
      }
      alts[alts.length - 1]!.push(this.term(depth));
    }
    return alts;
  }

  private term(depth: number): Term {
    const atom = this.atom(depth);
    if (atom.kind === 'assert') {
      const q = this.src[this.i];
      if (q !== undefined && '*+?{'.includes(q)) throw new UnsafePatternError('a quantifier on an assertion');
      return atom;
    }
    this.quantifier(atom);
    return atom;
  }

  private quantifier(t: Term): void {
    const c = this.src[this.i];
    let min = 1;
    let max = 1;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(this.src.slice(this.i));
      if (!m) throw new UnsafePatternError(`escape "{" at ${this.i} (or write a count like {2,8})`);
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (min > MAX_COUNT || (max !== Infinity && max > MAX_COUNT) || max < min) throw new UnsafePatternError(`count out of range at ${this.i}`);
      this.i += m[0].length - 1;
    } else return;
    this.i++;
    if (this.src[this.i] === '?') this.i++; // lazy: same shape
    const again = this.src[this.i];
    if (again !== undefined && '*+?{'.includes(again)) throw new UnsafePatternError(`a quantifier on a quantifier at ${this.i}`);
    if (max > 1 && ++this.repeats > MAX_REPEATS) throw new UnsafePatternError('too many repetitions');
    t.min *= min;
    t.max = max === Infinity || t.max === Infinity ? Infinity : t.max * max;
    if (t.kind === 'group' && max > 1) {
      const inner = t.alts!;
      if (inner.length > 1) throw new UnsafePatternError('a repeated alternation such as (a|b)* (use a character class)');
      if (inner.some((seq) => seq.some((x) => x.max > 1 || ways(x) > 1))) throw new UnsafePatternError('a nested quantifier such as (a+)+ or (a?){9}');
    }
  }

  private atom(depth: number): Term {
    const c = this.src[this.i]!;
    const chars = (set: CharSet): Term => {
      if (this.fold) set.foldCase();
      return { kind: 'chars', set, min: 1, max: 1 };
    };
    if (c === '(') {
      this.i++;
      if (this.src.startsWith('?=', this.i) || this.src.startsWith('?!', this.i) || this.src.startsWith('?<=', this.i) || this.src.startsWith('?<!', this.i)) {
        throw new UnsafePatternError('a lookaround');
      }
      if (this.src.startsWith('?:', this.i)) this.i += 2;
      else if (this.src.startsWith('?<', this.i)) {
        const m = /^\?<[A-Za-z_][A-Za-z0-9_]{0,31}>/.exec(this.src.slice(this.i));
        if (!m) throw new UnsafePatternError('an invalid group name');
        this.i += m[0].length;
      } else if (this.src[this.i] === '?') throw new UnsafePatternError(`an unsupported group at ${this.i}`);
      if (++this.groups > MAX_GROUPS) throw new UnsafePatternError('too many groups');
      const alts = this.alternatives(depth + 1);
      if (this.src[this.i] !== ')') throw new UnsafePatternError('an unclosed group');
      this.i++;
      const set = new CharSet();
      for (const seq of alts) for (const t of seq) set.addSet(t.set);
      const min = Math.min(...alts.map((seq) => seq.reduce((a, t) => a + t.min, 0)));
      return { kind: 'group', set, min: min > 0 ? 1 : 0, max: 1, alts };
    }
    if (c === '[') return chars(this.charClass());
    if (c === '.') {
      this.i++;
      return chars(copy(DOT));
    }
    if (c === '^' || c === '$') {
      this.i++;
      return { kind: 'assert', set: new CharSet(), min: 0, max: 0 };
    }
    if (c === '\\') {
      const e = this.escape(false);
      if (e === 'assert') return { kind: 'assert', set: new CharSet(), min: 0, max: 0 };
      return chars(e);
    }
    if ('*+?{'.includes(c)) throw new UnsafePatternError(`nothing to repeat at ${this.i}`);
    if (c === '}' || c === ']') throw new UnsafePatternError(`escape "${c}" at ${this.i}`);
    this.i++;
    return chars(setOf(c));
  }

  /** Reads an escape after '\'; returns its set, or 'assert' for \b \B outside a class. */
  private escape(inClass: boolean): CharSet | 'assert' {
    this.i++;
    const c = this.src[this.i];
    if (c === undefined) throw new UnsafePatternError('a trailing backslash');
    this.i++;
    switch (c) {
      case 'd': return copy(DIGITS);
      case 'D': return DIGITS.negate();
      case 'w': return copy(WORD);
      case 'W': return WORD.negate();
      case 's': return copy(SPACES);
      case 'S': return SPACES.negate();
      case 'b': return inClass ? setOf('\b') : 'assert';
      case 'B': if (inClass) break; return 'assert';
      case 'n': return setOf('\n');
      case 'r': return setOf('\r');
      case 't': return setOf('\t');
      case 'f': return setOf('\f');
      case 'v': return setOf('\v');
      case '0': return setOf('\0');
      case 'x': {
        const m = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.i));
        if (!m) throw new UnsafePatternError('an invalid \\x escape');
        this.i += 2;
        return single(parseInt(m[0], 16));
      }
      case 'u': {
        const m = /^[0-9A-Fa-f]{4}/.exec(this.src.slice(this.i));
        if (!m) throw new UnsafePatternError('an invalid \\u escape');
        this.i += 4;
        return single(parseInt(m[0], 16));
      }
      default:
    }
    if (c >= '1' && c <= '9') throw new UnsafePatternError('a backreference');
    if (c === 'k') throw new UnsafePatternError('a backreference');
    if (/[A-Za-z0-9]/.test(c)) throw new UnsafePatternError(`an unsupported escape \\${c}`);
    return setOf(c);
  }

  private charClass(): CharSet {
    this.i++;
    let negated = false;
    if (this.src[this.i] === '^') {
      negated = true;
      this.i++;
    }
    const set = new CharSet();
    while (this.i < this.src.length && this.src[this.i] !== ']') {
      const a = this.classAtom();
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++;
        const b = this.classAtom();
        if (typeof a !== 'number' || typeof b !== 'number' || b < a) throw new UnsafePatternError('an invalid class range');
        set.addRange(a, b);
      } else if (typeof a === 'number') set.add(a);
      else set.addSet(a);
    }
    if (this.src[this.i] !== ']') throw new UnsafePatternError('an unclosed character class');
    this.i++;
    return negated ? set.negate() : set;
  }

  /** A class member: a code unit, or a set for \d \w \s and their negations. */
  private classAtom(): number | CharSet {
    const c = this.src[this.i]!;
    if (c === '\\') {
      const e = this.escape(true);
      if (e === 'assert') throw new UnsafePatternError('an invalid escape in a class');
      const members = [...Array(128).keys()].filter((x) => (e.bits[x >>> 5]! & (1 << (x & 31))) !== 0);
      return members.length === 1 && !e.nonAscii ? members[0]! : e;
    }
    if (c === '[' && this.src[this.i + 1] === ':') throw new UnsafePatternError('POSIX classes are not supported');
    this.i++;
    return c.charCodeAt(0);
  }
}

function copy(s: CharSet): CharSet {
  const n = new CharSet();
  n.addSet(s);
  return n;
}
function single(code: number): CharSet {
  const s = new CharSet();
  s.add(code);
  return s;
}

const isLong = (t: Term): boolean => t.max > LONG || (t.kind === 'group' && t.alts!.some((seq) => seq.some(isLong)));
const canFail = (t: Term) => t.kind === 'assert' || t.min > 0;

/**
 * How many ways a bounded term can match a stretch of text (its range of counts, times its alternatives' ways):
 * 1 for a fixed one. Only meaningful for terms that are not long.
 */
function ways(t: Term): number {
  const reps = Math.min(t.max, LONG + 1) - t.min + 1;
  if (t.kind !== 'group') return reps;
  let inner = 0;
  for (const seq of t.alts!) inner += seq.reduce((n, x) => n * ways(x), 1);
  return Math.min(reps * inner, 1e9);
}

/** Inlines groups that are neither repeated nor alternations, so their terms are checked in sequence. */
function flatten(seq: Term[]): Term[] {
  const out: Term[] = [];
  for (const t of seq) {
    if (t.kind === 'group' && t.max === 1 && t.min === 1 && t.alts!.length === 1) out.push(...flatten(t.alts![0]!));
    else out.push(t);
  }
  return out;
}

/**
 * Repetitions that can meet on the same characters, from seq[i] on: the next ones that share a character with those
 * before, as long as whatever lies between them is optional or made of such shared characters (\w+_\w+). At most
 * one of them may be long, and the bounded ones may split a run at most MAX_WAYS ways.
 */
function checkMeeting(seq: Term[], i: number): void {
  const a = seq[i]!;
  let longs = isLong(a) ? 1 : 0;
  let product = longs ? 1 : ways(a);
  if (!longs && product === 1) return;
  const shared = copy(a.set);
  for (let j = i + 1; j < seq.length; j++) {
    const b = seq[j]!;
    if (b.kind === 'assert') break;
    const long = isLong(b);
    if ((long || ways(b) > 1) && b.set.overlaps(shared)) {
      if (long && ++longs > 1) throw new UnsafePatternError('two repetitions that can match the same characters (e.g. \\w+\\w+)');
      if (!long) product *= ways(b);
      if (product > MAX_WAYS) throw new UnsafePatternError(`repetitions next to each other that can split the same characters more than ${MAX_WAYS} ways (e.g. [a-z]{1,64}[a-z]{1,64})`);
      shared.addSet(b.set);
    }
    if (b.min > 0 && !b.set.overlaps(shared)) break; // a character none of them can take: the split is fixed
  }
}

function checkSequence(seq: Term[]): void {
  for (let i = 0; i < seq.length; i++) {
    const a = seq[i]!;
    if (a.kind === 'group') {
      for (const alt of a.alts!) {
        const inner = flatten(alt);
        if (a.alts!.length > 1 && inner.some((x) => isLong(x))) throw new UnsafePatternError('a long repetition inside an alternation');
        checkSequence(inner);
      }
    }
    checkMeeting(seq, i);
    if (!isLong(a)) continue;
    // A long repetition that can still fail afterwards needs a prefix character it cannot match.
    if (seq.slice(i + 1).some(canFail)) {
      const anchored = seq.slice(0, i).some((p) => p.min > 0 && !p.set.overlaps(a.set) && p.kind !== 'assert');
      if (!anchored) throw new UnsafePatternError('a repetition that can fail later must follow a character it cannot match (e.g. "token=\\w+;")');
    }
  }
}

/** Throws UnsafePatternError when `source` is not accepted (see the module comment). */
export function checkPatternSafety(source: string, flags = ''): void {
  if (typeof source !== 'string' || source.length === 0) throw new UnsafePatternError('an empty pattern');
  if (source.length > MAX_PATTERN) throw new UnsafePatternError(`longer than ${MAX_PATTERN} characters`);
  if (!/^i?$/.test(flags)) throw new UnsafePatternError('only the "i" flag is allowed');
  const alts = new Parser(source, flags === 'i').parse();
  for (const alt of alts) {
    const seq = flatten(alt);
    if (seq.reduce((n, t) => n + t.min, 0) === 0) throw new UnsafePatternError('a pattern that can match the empty string');
    checkSequence(seq);
  }
  try {
    new RegExp(source, flags); // the subset parser is stricter than JavaScript's, but confirm
  } catch {
    throw new UnsafePatternError('not a valid regular expression');
  }
}

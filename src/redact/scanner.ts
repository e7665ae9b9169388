/**
 * A multi-pattern literal scanner (Aho–Corasick, compiled to a dense DFA, ASCII case-folded).
 *
 * Every rule declares the literal "triggers" it cares about ("bearer", "-----begin", "ghp_" …). One pass
 * over the text finds all of them in linear time; only then does a rule look closer, at that spot. A log
 * line without any trigger costs one table lookup per character, which keeps the common case fast.
 * Characters that occur in no pattern share one column of the table, which keeps the table small.
 */
export interface Scanner {
  /** Calls `hit(patternIndex, start, end)` for every occurrence at or after `from`, in order of `end`. */
  scan(text: string, from: number, hit: (pattern: number, start: number, end: number) => void): void;
  readonly patterns: readonly string[];
}

const COLUMNS = 64; // at most 63 distinct pattern characters; column 0 is "any other character"
const SHIFT = 6; // log2(COLUMNS)

export function buildScanner(patterns: readonly string[]): Scanner {
  const lowered = patterns.map((p) => {
    const l = p.toLowerCase();
    if (l.length === 0 || /[^\x01-\x7f]/.test(l)) throw new TypeError('scanner patterns must be non-empty ASCII');
    return l;
  });
  // Column of each ASCII character (after case folding).
  const column = new Uint8Array(128);
  let columns = 1;
  for (const p of lowered) {
    for (let k = 0; k < p.length; k++) {
      const c = p.charCodeAt(k);
      if (column[c] === 0) {
        if (columns >= COLUMNS) throw new TypeError('too many distinct characters in scanner patterns');
        column[c] = columns++;
      }
    }
  }
  for (let c = 65; c <= 90; c++) column[c] = column[c + 32]!;

  // Trie over columns.
  const next: Int32Array[] = [new Int32Array(COLUMNS).fill(-1)];
  const outs: number[][] = [[]];
  lowered.forEach((p, index) => {
    let s = 0;
    for (let k = 0; k < p.length; k++) {
      const c = column[p.charCodeAt(k)]!;
      if (next[s]![c]! < 0) {
        next.push(new Int32Array(COLUMNS).fill(-1));
        outs.push([]);
        next[s]![c] = next.length - 1;
      }
      s = next[s]![c]!;
    }
    outs[s]!.push(index);
  });
  // Failure links, breadth first; complete the DFA and merge outputs along failure links.
  const fail = new Int32Array(next.length);
  const queue: number[] = [];
  for (let c = 0; c < COLUMNS; c++) {
    const s = next[0]![c]!;
    if (s < 0) next[0]![c] = 0;
    else queue.push(s);
  }
  for (let q = 0; q < queue.length; q++) {
    const r = queue[q]!;
    for (let c = 0; c < COLUMNS; c++) {
      const s = next[r]![c]!;
      if (s < 0) {
        next[r]![c] = next[fail[r]!]![c]!;
      } else {
        queue.push(s);
        fail[s] = next[fail[r]!]![c]!;
        outs[s]!.push(...outs[fail[s]!]!);
      }
    }
  }
  const states = next.length;
  if (states * COLUMNS > 0x3fffffff) throw new TypeError('too many scanner patterns');
  // The DFA, premultiplied (a state is its row offset) and signed: a state with outputs is stored as
  // -(row) - 1, so the hot loop tests one sign instead of reading a second table.
  const delta = new Int32Array(states * COLUMNS);
  for (let s = 0; s < states; s++) {
    for (let c = 0; c < COLUMNS; c++) {
      const t = next[s]![c]!;
      delta[s * COLUMNS + c] = outs[t]!.length > 0 ? -(t * COLUMNS) - 1 : t * COLUMNS;
    }
  }
  // Column of every UTF-16 code unit: one lookup, no branch (non-ASCII is column 0).
  const col = new Uint8Array(65536);
  col.set(column);
  const lengths = lowered.map((p) => p.length);

  return {
    patterns: lowered,
    scan(text, from, hit) {
      const d = delta; // locals, not closure slots, in the hot loop
      const cl = col;
      let st = 0;
      const n = text.length;
      for (let i = from; i < n; i++) {
        st = d[st + cl[text.charCodeAt(i)]!]!;
        if (st < 0) {
          st = -st - 1;
          for (const p of outs[st >> SHIFT]!) hit(p, i + 1 - lengths[p]!, i + 1);
        }
      }
    },
  };
}

// Redaction quality on the labeled corpus (test/fixtures/redact): recall and precision per category.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor } from '../../src/redact/index.js';
import { loadCorpus, type CorpusLine } from './corpus-loader.js';

const SEED_CATEGORIES = ['bearer', 'basic', 'api_key', 'password', 'pem', 'file_path', 'url_credentials'];
const redactor = createRedactor({ isolated: true });

interface Tally {
  secrets: number;
  caught: number;
  spans: number;
  falseSpans: number;
}

/** A secret is caught only when nothing of it survives: not the value, nor any 16-character piece unique to it. */
function survives(secret: string, original: string, output: string): boolean {
  if (output.includes(secret)) return true;
  if (secret.length < 20) return false;
  for (let i = 0; i + 16 <= secret.length; i++) {
    const piece = secret.slice(i, i + 16);
    if (original.indexOf(piece) === original.lastIndexOf(piece) && output.includes(piece)) return true;
  }
  return false;
}

function occurrences(text: string, value: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = text.indexOf(value); i >= 0; i = text.indexOf(value, i + 1)) out.push([i, i + value.length]);
  return out;
}

interface Result {
  byCategory: Map<string, Tally>;
  secrets: number;
  caught: number;
  cleanLines: number;
  cleanChanged: number;
}

/** Runs the redactor over a corpus and prints recall and precision per category. */
function evaluate(corpus: CorpusLine[], print: (s: string) => void): Result {
  const byCategory = new Map<string, Tally>();
  const tally = (c: string) => byCategory.get(c) ?? byCategory.set(c, { secrets: 0, caught: 0, spans: 0, falseSpans: 0 }).get(c)!;
  const notes: string[] = [];
  let cleanLines = 0;
  let cleanChanged = 0;
  for (const line of corpus) {
    const out = redactor.redactText(line.text);
    const { spans } = redactor.findSpans(line.text);
    const secretRanges = line.secrets.flatMap((s) => occurrences(line.text, s.value));
    for (const s of line.secrets) {
      const c = tally(s.category);
      c.secrets++;
      if (survives(s.value, line.text, out)) notes.push(`missed: ${line.file}:${line.lineNo} [${s.category}] ${line.text.slice(0, 160)}`);
      else c.caught++;
    }
    for (const span of spans) {
      const c = tally(span.category);
      c.spans++;
      if (!secretRanges.some(([a, b]) => span.start < b && span.end > a)) {
        c.falseSpans++;
        notes.push(`false positive: ${line.file}:${line.lineNo} [${span.rule}] "${line.text.slice(span.start, Math.min(span.end, span.start + 60))}"`);
      }
    }
    if (line.category === 'clean') {
      cleanLines++;
      if (out !== line.text) cleanChanged++;
    }
  }
  const pct = (a: number, b: number) => (b === 0 ? '   -  ' : `${((100 * a) / b).toFixed(1).padStart(5)}%`);
  let secrets = 0;
  let caught = 0;
  let spansAll = 0;
  let falseAll = 0;
  print(`${corpus.length} lines, ${cleanLines} clean`);
  print('category          secrets  recall   spans  precision');
  for (const [name, c] of [...byCategory.entries()].sort()) {
    secrets += c.secrets;
    caught += c.caught;
    spansAll += c.spans;
    falseAll += c.falseSpans;
    print(`${name.padEnd(17)} ${String(c.secrets).padStart(7)}  ${pct(c.caught, c.secrets)}  ${String(c.spans).padStart(6)}  ${pct(c.spans - c.falseSpans, c.spans)}`);
  }
  print(`${'overall'.padEnd(17)} ${String(secrets).padStart(7)}  ${pct(caught, secrets)}  ${String(spansAll).padStart(6)}  ${pct(spansAll - falseAll, spansAll)}`);
  print(`clean lines changed: ${cleanChanged}/${cleanLines} (${pct(cleanChanged, cleanLines).trim()})`);
  for (const n of notes) print(n);
  return { byCategory, secrets, caught, cleanLines, cleanChanged };
}

test('redaction quality on the labeled corpus', (t) => {
  const corpus = loadCorpus(new URL('../fixtures/redact/', import.meta.url));
  const r = evaluate(corpus, (s) => t.diagnostic(`corpus: ${s}`));
  for (const cat of SEED_CATEGORIES) {
    const c = r.byCategory.get(cat);
    assert.ok(c && c.secrets > 0, `the corpus has ${cat} secrets`);
    assert.equal(c.caught, c.secrets, `recall on seed 004 category ${cat}`);
  }
  assert.ok(r.caught / r.secrets >= 0.95, `overall recall ${r.caught}/${r.secrets} is at least 95%`);
  assert.ok(r.cleanChanged / r.cleanLines <= 0.01, `false positives on ${r.cleanChanged}/${r.cleanLines} clean lines are at most 1%`);
});

// Written after the rules were tuned on the main corpus. Its first run found 33/40 secrets and changed 2/50 clean
// lines (docs/redaction.md); the generic misses it exposed were then fixed. Kept as a guard with looser bounds.
test('redaction quality on the second (late) corpus', (t) => {
  const corpus = loadCorpus(new URL('../fixtures/redact/holdout/', import.meta.url));
  const r = evaluate(corpus, (s) => t.diagnostic(`late corpus: ${s}`));
  assert.ok(r.caught / r.secrets >= 0.9, `recall ${r.caught}/${r.secrets} is at least 90%`);
  assert.ok(r.cleanChanged / r.cleanLines <= 0.02, `false positives on ${r.cleanChanged}/${r.cleanLines} clean lines are at most 2%`);
});

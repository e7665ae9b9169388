/**
 * Review finding 4: the third-party verification recipe in docs/audit.md must reject edited lines whose parse is
 * unchanged. This runs the script as the docs print it (the block after `<!-- verify-recipe -->`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLines, tempDir, writeLog } from './helpers.js';

function recipe(dir: string): string {
  const md = readFileSync(new URL('../../docs/audit.md', import.meta.url), 'utf8');
  const at = md.indexOf('<!-- verify-recipe -->');
  assert.ok(at >= 0, 'docs/audit.md has the recipe');
  const m = /```js\n([\s\S]*?)```/.exec(md.slice(at));
  const path = join(dir, 'verify-chain.mjs');
  writeFileSync(path, (m as RegExpExecArray)[1] as string);
  return path;
}

const run = (script: string, file: string) => spawnSync(process.execPath, [script, file], { encoding: 'utf8' });

test("the docs' recipe accepts the writer's lines and rejects edits that leave the parse unchanged", async (t) => {
  const state = tempDir(t);
  const dir = await writeLog(state, 8);
  const script = recipe(state);
  const lines = readLines(join(dir, 'audit.jsonl'));
  const target = lines.findIndex((l) => l.includes('"risk_level":"critical"') && l.includes('"i":4'));
  assert.ok(target > 0);
  const good = join(state, 'good.jsonl');
  writeFileSync(good, lines.map((l) => l + '\n').join(''));
  assert.equal(run(script, good).status, 0, run(script, good).stderr);

  const line = lines[target] as string;
  const edits: Record<string, string> = {
    'whitespace after a colon': line.replace('"event_type":', '"event_type": '),
    'number form': line.replace('"i":4', '"i":4.0'),
    'escape': line.replace('"install_package"', '"\\u0069nstall_package"'),
    'key order': line.replace('"approved":true,"args":', '"args":').replace('"event_type":', '"approved":true,"event_type":'),
    'duplicate key': line.replace('{"approved"', '{"risk_level":"low","approved"'),
    'CRLF': `${line}\r`,
  };
  for (const [name, edited] of Object.entries(edits)) {
    assert.notEqual(edited, line, name);
    const file = join(state, 'edited.jsonl');
    writeFileSync(file, lines.map((l, i) => (i === target ? edited : l) + '\n').join(''));
    const r = run(script, file);
    assert.equal(r.status, 1, `${name}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`line ${target + 1}: `), name);
  }
});

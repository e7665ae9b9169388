// `gatehouse redact`: in-process through runCli, and as a real process in a pipe.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { redactSection } from '../../src/config/schema/redact.js';
import { DEFAULT_ENTROPY } from '../../src/redact/entropy.js';
import { createRedactor } from '../../src/redact/index.js';
import { BIN, ROOT } from '../helpers/process.js';

async function run(argv: string[], input: string | string[], cwd = process.cwd()): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  const stdin = Readable.from((Array.isArray(input) ? input : [input]).map((s) => Buffer.from(s)));
  const code = await runCli(['redact', ...argv], { stdin, stdout, stderr, env: {}, cwd });
  return { code, out: out.join(''), err: err.join('') };
}

describe('gatehouse redact', () => {
  test('redacts each line of stdin to stdout, keeping line structure', async () => {
    const input = 'GET /api?token=abc123 200\nplain line\nAuthorization: Bearer xyz.abc.def\nno newline at end password=hunter2';
    const r = await run([], input);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'GET /api?token=[REDACTED] 200\nplain line\nAuthorization: Bearer [REDACTED]\nno newline at end password=[REDACTED]');
  });

  test('lines split across chunks (and multi-byte characters split across chunks) are redacted whole', async () => {
    const bytes = Buffer.from('日本 password=hunter2\nnext Bearer abcdefgh1234\n');
    const pieces = [bytes.subarray(0, 4), bytes.subarray(4, 14), bytes.subarray(14, 30), bytes.subarray(30)];
    const stdout = new PassThrough();
    const out: string[] = [];
    stdout.on('data', (c: Buffer) => out.push(c.toString()));
    const code = await runCli(['redact'], { stdin: Readable.from(pieces), stdout, stderr: new PassThrough(), env: {}, cwd: process.cwd() });
    assert.equal(code, 0);
    assert.equal(out.join(''), '日本 password=[REDACTED]\nnext Bearer [REDACTED]\n');
  });

  test('a PEM block across lines and chunks is removed, and the lines after it stay', async () => {
    const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB';
    const r = await run([], ['key follows: -----BEGIN PRIVATE KEY-----\n', `${body}\n`, `${body}\n-----END PRIVATE KEY-----\n`, 'after\n']);
    assert.equal(r.out, 'key follows: [CERTIFICATE REDACTED]\nafter\n');
    const cut = await run([], ['-----BEGIN CERTIFICATE-----\n', `${body}\n`, 'wIDAQAB\n', 'INFO next line\n']);
    assert.equal(cut.out, '[CERTIFICATE REDACTED]\nINFO next line\n');
  });

  test('--json redacts JSON lines structurally and falls back to text for the rest', async () => {
    const r = await run(['--json'], '{"user":"a","credentials":{"k":"v"},"msg":"Bearer abcdefgh1234"}\nnot json password=x\n{"broken":\n');
    assert.equal(r.out, '{"user":"a","credentials":"[REDACTED]","msg":"Bearer [REDACTED]"}\nnot json password=[REDACTED]\n{"broken":\n');
  });

  test('--rules FILE adds rules and allow entries; an unsafe rule is refused naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-redact-cli-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), 'rules:\n  - name: ticket\n    pattern: "TICKET-[0-9]{6}"\nallow:\n  - AKIAIOSFODNN7EXAMPLE\nkeys: [x-seal]\n');
      const ok = await run(['--rules', 'rules.yaml'], 'TICKET-123456 AKIAIOSFODNN7EXAMPLE x-seal=1\n', dir);
      assert.equal(ok.out, '[REDACTED] AKIAIOSFODNN7EXAMPLE x-seal=[REDACTED]\n');
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ rules: [{ name: 'ok', pattern: 'a[0-9]{2}' }, { name: 'evil', pattern: '(a+)+$' }] }));
      const bad = await run(['--rules', 'bad.json'], 'x\n', dir);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /GH_REDACT_RULE_UNSAFE: bad\.json: redact\.rules\[1\] is not safe to run: a nested quantifier/);
      assert.equal(bad.out, '');
      writeFileSync(join(dir, 'shape.yaml'), 'rules: [{ name: "x" }]\nunknown: 1\n');
      const shape = await run(['--rules', 'shape.yaml'], 'x\n', dir);
      assert.equal(shape.code, 2);
      assert.match(shape.err, /GH_CONFIG_INVALID: shape\.yaml: /);
      // A rules file that does not parse: code and position, never the text at fault (it may be the secret itself).
      writeFileSync(join(dir, 'leaky.yaml'), 'allow:\n  - |PLANTsecretValue0123456789\n');
      const leaky = await run(['--rules', 'leaky.yaml'], 'x\n', dir);
      assert.equal(leaky.code, 2);
      assert.match(leaky.err, /leaky\.yaml: not valid YAML or JSON \(line \d+, column \d+: YAML [A-Z_]+/);
      assert.ok(!leaky.err.includes('PLANT'), leaky.err);
      const missing = await run(['--rules', 'nope.yaml'], 'x\n', dir);
      assert.equal(missing.code, 2);
      writeFileSync(join(dir, 'gatehouse.yaml'), 'redact:\n  keys: [x-tenant-seal]\n');
      const cfg = await run(['--config', 'gatehouse.yaml', '--rules', 'rules.yaml'], 'x-tenant-seal=1 TICKET-123456\n', dir);
      assert.equal(cfg.out, 'x-tenant-seal=[REDACTED] [REDACTED]\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('as a real process in a pipe, streaming 20 000 lines', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(['redact']);"], {
      cwd: process.cwd(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    const done = new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
    for (let i = 0; i < 20_000; i++) {
      const line = i % 100 === 0 ? `req ${i} api_key=k${i}secret\n` : `req ${i} ok\n`;
      if (!child.stdin.write(line)) await new Promise((r) => child.stdin.once('drain', r));
    }
    child.stdin.end();
    assert.equal(await done, 0);
    const text = Buffer.concat(out).toString();
    assert.equal(text.split('\n').length, 20_001);
    assert.ok(!/k\d+secret/.test(text));
    assert.ok(text.includes('req 100 api_key=[REDACTED]\n'));
  });

  test('without --config or --rules the command redacts with the redact section\'s defaults (the redactor\'s own)', async () => {
    const defaults = redactSection.parse(undefined);
    assert.deepEqual({ minLength: defaults.entropy.min_length, minBits: defaults.entropy.min_bits }, DEFAULT_ENTROPY);
    assert.equal(defaults.entropy.enabled, true);
    const input = 'session=8f3kQ9zLm2Xv7RtY1pWc signature=aaaaaaaaaaaaaaaaaaaa password=hunter2 code=200\n';
    const r = await run([], input);
    assert.equal(r.out, createRedactor({ ...defaults, isolated: true }).redactText(input));
    assert.notEqual(r.out, input);
  });

  test('as a real process reading a regular file on stdin (1 MiB reads): secrets across read boundaries are found', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-redact-file-'));
    try {
      const lines: string[] = [];
      let size = 0;
      for (let i = 0; size < 3.5 * 1024 * 1024; i++) {
        const line = i % 37 === 0 ? `req ${i} Authorization: Bearer tok${i}ZmFrZXNlY3JldHZhbHVlMTIz end\n` : `req ${i} GET /api/v1/items/${i} 200 ${'x'.repeat(i % 90)}\n`;
        lines.push(line);
        size += line.length;
      }
      const text = lines.join('');
      const file = join(dir, 'in.log');
      writeFileSync(file, text);
      const fd = openSync(file, 'r');
      const child = spawn(process.execPath, [BIN, 'redact'], { cwd: ROOT, stdio: [fd, 'pipe', 'inherit'] });
      closeSync(fd);
      const out: Buffer[] = [];
      (child.stdout as Readable).on('data', (c: Buffer) => out.push(c));
      const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
      assert.equal(code, 0);
      const got = Buffer.concat(out).toString();
      assert.equal(got, createRedactor({ isolated: true }).redactText(text));
      assert.ok(!/tok\d+ZmFr/.test(got));
      assert.equal(got.split('\n').length, lines.length + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

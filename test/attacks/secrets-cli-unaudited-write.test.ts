/**
 * Attack: change a stored secret without leaving an audit record.
 *
 * docs/secrets.md: `set`, `get`, `delete`, `rotate-master` and `rekey` each write their audit record first; "an action
 * that cannot be audited does not happen". `secrets set` wrote the new version first and audited afterwards: with the
 * audit log unwritable (disk full, a sink down, or an insider who makes it so), the credential the gateways inject is
 * replaced — every gateway picks it up within secrets.refresh — and the command fails only after the fact, leaving no
 * record of who swapped it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createSecretsCommand } from '../../src/cli/secrets.js';
import type { Command, CliContext } from '../../src/cli/types.js';
import type { AuditEvent } from '../../src/core/types.js';
import { cli } from '../helpers/cli.js';

async function run(cmd: Command, name: string, values: Record<string, string | boolean>, positionals: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<{ code: number | string; stdout: string }> {
  const sub = cmd.subcommands?.find((c) => c.name === name) as Command;
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ctx: CliContext = { stdin: Readable.from([stdin]), stdout, stderr: new PassThrough(), env, cwd: process.cwd() };
  try {
    const code = await (sub.run as NonNullable<Command['run']>)({ values, positionals }, ctx);
    return { code, stdout: out };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? String(e), stdout: out };
  }
}

describe('secrets set with an audit log that cannot be written', () => {
  test('the new value is not stored: the audit record comes first', async (t) => {
    const home = mkdtempSync(join(tmpdir(), 'gh-atk-cli-audit-'));
    t.after(() => rmSync(home, { recursive: true, force: true }));
    const env = { GATEHOUSE_HOME: home, USER: 'insider', SECRETS_MASTER_KEY: 'cd'.repeat(32) };
    assert.equal((await cli(['secrets', 'set', 'inventory_token'], { env, stdin: 'fake-original-token-0000000001' })).code, 0);

    const seen: AuditEvent[] = [];
    const brokenAudit = createSecretsCommand(async () => ({
      emit: async (e: AuditEvent) => {
        seen.push(e);
        throw new Error('audit log unavailable');
      },
      close: async () => {},
    }));
    const r = await run(brokenAudit, 'set', {}, ['inventory_token'], env, 'fake-swapped-token-00000000002');
    assert.notEqual(r.code, 0, 'set succeeded without an audit record');
    assert.ok(seen.some((e) => e.event_type === 'secrets.set'), 'no audit record was even attempted');
    const got = await cli(['secrets', 'get', 'inventory_token'], { env });
    assert.equal(got.stdout, 'fake-original-token-0000000001\n', 'the value was replaced although its audit record could not be written');
  });
});

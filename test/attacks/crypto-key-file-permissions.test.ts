import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../../src/core/errors.js';
import { readKeyFile } from '../../src/crypto/keyfile.js';
import { openCrypto } from '../../src/crypto/runtime.js';
import { validateConfig } from '../../src/config/index.js';
import { MemoryStore } from '../../src/store/index.js';

// Seed 004: key files 600 or 400. A world-readable key — directly, through a symlink, or as the configured key_file —
// is refused before it is used, and the error names the file but never the key.
test('a key file readable by others is refused, through a symlink and from the config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-perm-'));
  try {
    const key = randomBytes(32).toString('hex');
    const loose = join(dir, 'key.bin');
    writeFileSync(loose, key);
    chmodSync(loose, 0o644);
    const link = join(dir, 'link.bin');
    symlinkSync(loose, link);
    for (const path of [loose, link]) {
      assert.throws(() => readKeyFile(path), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_KEY_FILE_PERMISSIONS' && !e.message.includes(key));
    }
    const cfg = validateConfig({ state_dir: dir, encryption: { enabled: true, key_file: loose, key_id: 'key-2023' } });
    const rt = openCrypto(cfg.encryption, { store: new MemoryStore(), stateDir: dir, env: {} });
    await assert.rejects(rt.keyring('default'), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_KEY_FILE_PERMISSIONS');
    chmodSync(loose, 0o600);
    const ring = await openCrypto(cfg.encryption, { store: new MemoryStore(), stateDir: dir, env: {} }).keyring('default');
    assert.equal(ring?.list()[0]?.id, 'key-2023');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

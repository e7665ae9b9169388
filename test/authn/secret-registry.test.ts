// authn hands its secrets to the redactor's registry: long-lived ones pinned, per-request ones not (docs/redaction.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('authn pins the secrets that live as long as the process (static tokens), not the tokens it verifies', async () => {
  const { setSecretRegistrar } = await import('../../src/authn/index.js');
  const { staticMethod } = await import('../../src/authn/methods/static.js');
  const seen: Array<[string, boolean]> = [];
  setSecretRegistrar((value, opts) => seen.push([value, opts.pinned === true]));
  try {
    staticMethod([{ token: 'static-token-for-grafana-0001', principal: 'grafana', scopes: ['readonly'] } as never]);
  } finally {
    const { registerSecret } = await import('../../src/redact/index.js');
    setSecretRegistrar(registerSecret);
  }
  assert.deepEqual(seen, [['static-token-for-grafana-0001', true]]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, GatehouseError, errorBody, toGatehouseError } from '../../src/core/errors.js';

test('every error code is documented in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, []);
});

test('docs/errors.md lists no code that does not exist', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/`(GH_[A-Z0-9_]+)`/g)].map((m) => m[1] as string);
  const unknown = documented.filter((c) => !(c in ERROR_CODES));
  assert.deepEqual(unknown, []);
});

test('a 5xx error never exposes its specific message to clients', () => {
  const err = new GatehouseError('GH_UPSTREAM_UNAVAILABLE', 'connect ECONNREFUSED 10.1.2.3:9000');
  assert.equal(err.status, 502);
  assert.equal(err.publicMessage, ERROR_CODES.GH_UPSTREAM_UNAVAILABLE.message);
  const body = JSON.parse(errorBody(err, 'r1')) as { error: Record<string, string> };
  assert.deepEqual(body, { error: { code: 'GH_UPSTREAM_UNAVAILABLE', message: ERROR_CODES.GH_UPSTREAM_UNAVAILABLE.message, request_id: 'r1' } });
  assert.ok(!JSON.stringify(body).includes('10.1.2.3'));
});

test('a 4xx error shows its specific message and safe data', () => {
  const err = new GatehouseError('GH_SCOPE_MISSING', 'Insufficient scope: container:write is required', { data: { missing_scope: 'container:write' } });
  const body = JSON.parse(errorBody(err)) as { error: Record<string, string> };
  assert.equal(body.error.message, 'Insufficient scope: container:write is required');
  assert.equal(body.error.missing_scope, 'container:write');
});

test('wrapping a foreign error does not copy its message', () => {
  const wrapped = toGatehouseError(new Error('password=hunter2 rejected'));
  assert.equal(wrapped.code, 'GH_INTERNAL');
  assert.ok(!wrapped.message.includes('hunter2'));
});

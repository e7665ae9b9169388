/**
 * Fields that name an environment variable take a name, nothing else (secret-leak review): written as `${KEY}` by
 * mistake, audit.hmac_key_env, audit.alerts.secret_env and audit.checkpoint.private_key_env held the key itself, and
 * `config check` and `doctor` printed it as an ordinary setting. Now such a value is refused, and the error names the
 * field, never the value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/index.js';
import { GatehouseError } from '../../src/core/errors.js';

const SECRET = 'PLANT-key-material-0123456789abcdef+/=';
const FIELDS: Array<[string, Record<string, unknown>]> = [
  ['audit.hmac_key_env', { audit: { hmac_key_env: SECRET, hmac_keys: ['password'] } }],
  ['audit.alerts.secret_env', { audit: { alerts: { secret_env: SECRET } } }],
  ['audit.checkpoint.private_key_env', { audit: { checkpoint: { private_key_env: SECRET } } }],
  ['secrets.master_key_env', { secrets: { master_key_env: SECRET } }],
];

test('an environment variable field holding anything but a name is refused, naming the field and not the value', () => {
  for (const [field, raw] of FIELDS) {
    let err: unknown;
    try {
      validateConfig(raw, { env: {} });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof GatehouseError, field);
    assert.equal(err.code, 'GH_CONFIG_INVALID', field);
    assert.ok(err.message.includes(field), `${field}: ${err.message}`);
    assert.ok(!JSON.stringify({ message: err.message, detail: err.detail, data: err.data }).includes('PLANT'), `${field}: the value is not shown`);
  }
});

test('names are accepted', () => {
  const cfg = validateConfig({ audit: { hmac_key_env: 'AUDIT_HMAC_KEY', hmac_keys: ['password'], alerts: { secret_env: 'ALERT_SECRET' }, checkpoint: { private_key_env: 'AUDIT_SIGNING_KEY' } } }, { env: {} });
  assert.equal(cfg.audit.hmac_key_env, 'AUDIT_HMAC_KEY');
  assert.equal(cfg.audit.alerts.secret_env, 'ALERT_SECRET');
});

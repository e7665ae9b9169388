import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, resolveProfile } from '../../src/config/index.js';

// Production is chosen by an environment variable; every spelling that plainly means production must get the
// production refusals, or one stray character silently turns them all off.

const DEMO = 'demo: { enabled: true }\n';

async function profileOf(env: NodeJS.ProcessEnv): Promise<string> {
  try {
    return (await loadConfig({ text: DEMO, env: { GATEHOUSE_HOME: '/tmp/gh-test-home', ...env } })).profile;
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.code === 'GH_CONFIG_PRODUCTION_REFUSED' ? 'production' : `error ${e.code}`;
  }
}

describe('profile selection cannot be bypassed by spelling', () => {
  test('upper case and the short form are production (ENV=Production, GATEHOUSE_ENV=prod)', async () => {
    assert.equal(await profileOf({ ENV: 'Production' }), 'production');
    assert.equal(await profileOf({ GATEHOUSE_ENV: 'PROD' }), 'production');
  });

  test('surrounding white space (a .env file with CRLF line ends, a quoted " production") is still production', async () => {
    for (const v of ['production\r', ' production', 'production\n', '\tprod ']) {
      assert.equal(resolveProfile({ GATEHOUSE_ENV: v }), 'production', JSON.stringify(v));
      assert.equal(await profileOf({ ENV: v }), 'production', JSON.stringify(v));
    }
  });

  test('an empty GATEHOUSE_ENV (compose passing an unset variable through) does not hide ENV=production', async () => {
    assert.equal(resolveProfile({ GATEHOUSE_ENV: '', ENV: 'production' }), 'production');
    assert.equal(await profileOf({ GATEHOUSE_ENV: '  ', ENV: 'production' }), 'production');
  });

  test('quotes kept by an env file (GATEHOUSE_ENV="production") are dropped, and a GATEHOUSE_ENV naming no profile is refused, never development', async () => {
    for (const v of ['"production"', "'prod'", ' "production" ']) assert.equal(resolveProfile({ GATEHOUSE_ENV: v }), 'production', v);
    assert.equal(resolveProfile({ ENV: '"production"' }), 'production');
    for (const v of ['producton', 'production-eu', 'live', '"production', 'prod"']) {
      assert.throws(() => resolveProfile({ GATEHOUSE_ENV: v }), (e: unknown) => e instanceof ConfigError && /GATEHOUSE_ENV: unknown profile/.test(e.message), v);
      assert.equal(await profileOf({ GATEHOUSE_ENV: v }), 'error GH_CONFIG_INVALID', v);
    }
    assert.equal(resolveProfile({ GATEHOUSE_ENV: 'dev' }), 'development');
    assert.equal(resolveProfile({ ENV: 'staging' }), 'development', 'ENV belongs to other software too: only production counts');
  });

  test('an explicit development still wins, and nothing set is development', async () => {
    assert.equal(resolveProfile({ GATEHOUSE_ENV: 'development', ENV: 'production' }), 'development');
    assert.equal(resolveProfile({}), 'development');
  });
});

/** Path-based file access control (seed 001, planned): escapes from the allowed prefix are refused at the string level. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkPath } from '../../src/authz/index.js';

const prefixes = ['/srv/data'];

test('paths under the prefix pass', () => {
  for (const p of ['/srv/data', '/srv/data/a.txt', '/srv/data/sub/dir/b', '/srv/data//x', '/srv/data/./x']) assert.equal(checkPath(p, prefixes), undefined, p);
});

test('classic and disguised escapes are refused', () => {
  const attacks = [
    '/srv/data/../../etc/passwd',
    '/srv/data/..',
    '/srv/data/sub/../../secret',
    '/srv/database/x', // prefix boundary
    '/srv/dat',
    'srv/data/x', // relative
    '~/srv/data/x',
    '/srv/data/%2e%2e/%2e%2e/etc/passwd',
    '/srv/data/%2E%2E%2Fetc',
    '/srv/data/..%2fetc',
    '/srv/data\\..\\..\\etc',
    '/srv/data/x\u0000.txt',
    '/srv/data/\uff0e\uff0e/\uff0e\uff0e/etc/passwd', // fullwidth dots fold to ".." under NFKC
    '/srv/data\uff0f..\uff0fetc',
    '/etc/passwd',
    '',
  ];
  for (const p of attacks) assert.ok(checkPath(p, prefixes), JSON.stringify(p));
});

test('property: whatever passes normalises to a path under the prefix', () => {
  const seg = fc.constantFrom('srv', 'data', '..', '.', '', 'x', '%2e', '\uff0e\uff0e', 'etc');
  fc.assert(
    fc.property(fc.array(seg, { maxLength: 8 }), (segs) => {
      const p = '/' + segs.join('/');
      if (checkPath(p, prefixes) === undefined) {
        const norm = p.normalize('NFKC').split('/').filter((s) => s !== '' && s !== '.');
        assert.ok(!norm.includes('..'));
        assert.deepEqual(norm.slice(0, 2), ['srv', 'data']);
      }
    }),
  );
});

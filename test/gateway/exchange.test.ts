import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkTarget } from '../../src/gateway/exchange.js';

const segmentChars = fc.constantFrom('a', 'b', '.', '%', '2', 'e', 'f', '5', 'c', '0', ';', '/', '\\', '-', '~', 'E', 'F', 'C');

test('property: an accepted target never decodes to a path with dot segments, backslashes or empty segments', () => {
  fc.assert(
    fc.property(fc.array(segmentChars, { maxLength: 40 }), fc.option(fc.string({ maxLength: 10 })), (chars, query) => {
      const url = '/' + chars.join('') + (query === null ? '' : `?${query}`);
      let target: ReturnType<typeof checkTarget>;
      try {
        target = checkTarget(url);
      } catch {
        return true; // refused: fine
      }
      const segments = target.path.split('/').slice(1);
      return (
        target.path.startsWith('/') &&
        !target.path.includes('\\') &&
        !target.path.includes('\0') &&
        segments.every((s, i) => s !== '.' && s !== '..' && !s.startsWith('..;') && !s.startsWith('.;') && (s !== '' || i === segments.length - 1))
      );
    }),
    { numRuns: 5000 },
  );
});

test('plain targets are accepted and split into path and query', () => {
  assert.deepEqual(checkTarget('/echo/a%20b?x=1'), { path: '/echo/a b', rawPath: '/echo/a%20b', query: 'x=1' });
  assert.deepEqual(checkTarget('/'), { path: '/', rawPath: '/', query: '' });
});

test('an oversized target is refused', () => {
  assert.throws(() => checkTarget('/' + 'a'.repeat(9000)), { code: 'GH_PATH_INVALID' });
});

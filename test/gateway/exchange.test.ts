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

test('X-Forwarded-For behind a trusted proxy: ip:port hops lose the port, and a hop that is no address never becomes the source', async () => {
  const { networkIdentity, forwardedHop } = await import('../../src/gateway/exchange.js');
  const { ipMatcher } = await import('../../src/core/net.js');
  const isTrustedProxy = ipMatcher(['10.0.0.0/8']);
  const source = (xff: string) =>
    networkIdentity({ socket: { remoteAddress: '10.0.0.2' }, headers: { 'x-forwarded-for': xff } } as unknown as import('node:http').IncomingMessage, { isTrustedProxy, tls: false }).source_ip;
  assert.equal(source('203.0.113.7:51234'), '203.0.113.7', 'one client, one address, whatever its source port');
  assert.equal(source('[2001:db8::7]:443'), '2001:db8::7');
  assert.equal(source('203.0.113.7, 10.1.1.1'), '203.0.113.7');
  // Behind trusted hops, a made-up value must not become a per-request address (a fresh failure count each time).
  assert.equal(source('anything-goes-42, 10.1.1.1'), '10.1.1.1');
  assert.equal(source('unknown'), '10.0.0.2');
  assert.equal(forwardedHop(' ::ffff:198.51.100.4 '), '198.51.100.4');
  assert.equal(forwardedHop('999.1.1.1:80'), '');
  assert.equal(forwardedHop('_hidden'), '');
});

test('a padded X-Forwarded-For never makes the trusted proxy the source: its last 2 KiB are read', async () => {
  const { networkIdentity } = await import('../../src/gateway/exchange.js');
  const { ipMatcher } = await import('../../src/core/net.js');
  const isTrustedProxy = ipMatcher(['10.0.0.0/8']);
  const source = (xff: string) =>
    networkIdentity({ socket: { remoteAddress: '10.0.0.2' }, headers: { 'x-forwarded-for': xff } } as unknown as import('node:http').IncomingMessage, { isTrustedProxy, tls: false }).source_ip;
  // The client pads what it sends; the proxy appends the address it saw.
  for (const pad of [2100, 5000, 64 * 1024]) {
    assert.equal(source(`${'1.2.3.4, '.repeat(Math.ceil(pad / 9))}198.51.100.7`), '198.51.100.7', `padded to ${pad}`);
    assert.equal(source(`${'x'.repeat(pad)}, 198.51.100.7, 10.1.1.1`), '198.51.100.7', `one long junk hop of ${pad}`);
  }
  // A single hop longer than the window is no address: the last trusted hop stands, as for any junk hop.
  assert.equal(source('x'.repeat(3000)), '10.0.0.2');
});

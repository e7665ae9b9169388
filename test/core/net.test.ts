import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipMatcher, normalizeIp } from '../../src/core/net.js';

test('exact addresses and CIDRs match at their edges (/0, /32, /128)', () => {
  assert.equal(ipMatcher(['0.0.0.0/0'])('203.0.113.9'), true);
  assert.equal(ipMatcher(['10.0.0.1/32'])('10.0.0.1'), true);
  assert.equal(ipMatcher(['10.0.0.1/32'])('10.0.0.2'), false);
  assert.equal(ipMatcher(['::1/128'])('::1'), true);
  assert.equal(ipMatcher(['::1/128'])('::2'), false);
  assert.equal(ipMatcher(['10.0.0.0/8'])('::ffff:10.1.2.3'), true);
  assert.equal(ipMatcher(['10.0.0.0/8'])('11.0.0.1'), false);
  assert.equal(ipMatcher([])('127.0.0.1'), false);
  assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1');
});

test('a CIDR whose prefix is empty or not plain digits is refused, never read as /0 (trust everybody)', () => {
  // Number('') is 0: "10.0.0.0/" used to become 10.0.0.0/0 and trust every address as a proxy.
  for (const entry of ['10.0.0.0/', '10.0.0.0/ ', '10.0.0.0/ 8', '10.0.0.0/0x8', '10.0.0.0/1e1', '10.0.0.0/8.0', '10.0.0.0/+8', 'fe80::/', '10.0.0.0/33', '::/129']) {
    assert.throws(() => ipMatcher([entry]), TypeError, entry);
  }
});

test('a CIDR prefix of -0 is refused with a TypeError instead of aborting the process', () => {
  // node:net BlockList asserts its prefix is an int32 and aborts the process on -0.
  assert.throws(() => ipMatcher(['10.0.0.0/-0']), TypeError);
  assert.throws(() => ipMatcher(['::/-0']), TypeError);
});

test('rawHeaderValues: every line of one header as sent, names case-insensitive, repeats kept', async () => {
  const { rawHeaderValues } = await import('../../src/core/net.js');
  const raw = ['Host', 'a.example', 'X-Other', 'x', 'host', 'b.example', 'HOSTS', 'c', 'Authorization', 'Bearer t'];
  assert.deepEqual(rawHeaderValues(raw, 'host'), ['a.example', 'b.example']);
  assert.deepEqual(rawHeaderValues(raw, 'authorization'), ['Bearer t']);
  assert.deepEqual(rawHeaderValues(raw, 'content-type'), []);
  assert.deepEqual(rawHeaderValues(['Host'], 'host'), [], 'a name without its value is not a value');
});

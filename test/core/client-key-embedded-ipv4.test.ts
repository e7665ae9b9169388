/**
 * NAT64 and other IPv4-embedding IPv6 addresses as sockets report them. clientKey kept such addresses whole only when
 * they were written with a dotted tail (64:ff9b::198.51.100.7), but libuv prints them in hex (64:ff9b::c633:6407):
 * every IPv4 client behind a NAT64 then shared one /64 key — one lockout, one rate limit, one connection cap for all.
 * Prefixes are now read by value, in any spelling.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { clientKey, normalizeIp } from '../../src/core/net.js';
import { lockoutKey } from '../../src/limits/index.js';

/** The address as socket.remoteAddress gives it (libuv's inet_ntop). */
const asSocket = (address: string): string => new SocketAddress({ address, family: 'ipv6' }).address;
const key = (address: string): string => clientKey(normalizeIp(asSocket(address)));

test('NAT64 (64:ff9b::/96): each IPv4 client its own key, in the hex spelling sockets use', () => {
  assert.equal(asSocket('64:ff9b::198.51.100.7'), '64:ff9b::c633:6407', 'sockets report hex');
  assert.equal(key('64:ff9b::198.51.100.7'), '64:ff9b::198.51.100.7');
  assert.equal(key('64:ff9b::203.0.113.99'), '64:ff9b::203.0.113.99');
  assert.equal(clientKey('64:FF9B:0:0:0:0:C633:6407'), '64:ff9b::198.51.100.7', 'any spelling, one key');
  assert.equal(clientKey('64:ff9b::198.51.100.7'), '64:ff9b::198.51.100.7');
  // An operator locks what the CLI is given, in either spelling: the same key.
  assert.equal(lockoutKey('ip', '64:ff9b::c633:6407'), lockoutKey('ip', '64:ff9b::198.51.100.7'));
});

test('every IPv4 address behind NAT64 keys apart (property)', () => {
  const octets = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  fc.assert(
    fc.property(octets, octets, (a, b) => {
      assert.equal(key(`64:ff9b::${a}`), `64:ff9b::${a}`);
      assert.equal(key(`64:ff9b::${a}`) === key(`64:ff9b::${b}`), a === b);
    }),
  );
});

test('other IPv4-embedding prefixes: mapped, compatible, SIIT, local-use NAT64, 6to4, Teredo', () => {
  // IPv4-mapped and IPv4-compatible are the IPv4 client itself.
  assert.equal(clientKey('::ffff:c633:6407'), '198.51.100.7');
  assert.equal(key('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(key('::198.51.100.7'), '198.51.100.7');
  // ::/112 holds :: and ::1, not IPv4 clients.
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  // SIIT (::ffff:0:0:0/96), whole.
  assert.equal(asSocket('::ffff:0:198.51.100.7'), '::ffff:0:c633:6407');
  assert.equal(key('::ffff:0:198.51.100.7'), '::ffff:0:198.51.100.7');
  assert.notEqual(key('::ffff:0:198.51.100.7'), key('::ffff:0:198.51.100.8'));
  // Local-use NAT64 (64:ff9b:1::/48, RFC 8215): whole, wherever the operator's prefix length puts the IPv4 address.
  assert.equal(key('64:ff9b:1::198.51.100.7'), '64:ff9b:1:0:0:0:c633:6407');
  assert.notEqual(key('64:ff9b:1::198.51.100.7'), key('64:ff9b:1::198.51.100.8'));
  assert.notEqual(key('64:ff9b:1:aa00::c6:3364:700'), key('64:ff9b:1:aa00::c6:3364:800'));
  // 6to4: the site's /48 (one IPv4 address), so its 65,536 /64s are one client; other sites apart.
  assert.equal(key('2002:c633:6407:1::1'), '2002:c633:6407::/48');
  assert.equal(key('2002:c633:6407:ffff::2'), '2002:c633:6407::/48');
  assert.notEqual(key('2002:c633:6407::1'), key('2002:c633:6408::1'));
  // Teredo (RFC 4380 §4 example): the client's public IPv4 address, obfuscated in the last 32 bits; one key per NAT
  // address whatever port or flags; clients of one Teredo server apart.
  assert.equal(key('2001:0:4136:e378:8000:63bf:3fff:fdd2'), 'teredo:192.0.2.45');
  assert.equal(key('2001:0:4136:e378:0:1234:3fff:fdd2'), 'teredo:192.0.2.45');
  assert.notEqual(key('2001:0:4136:e378:8000:63bf:3fff:fdd2'), key('2001:0:4136:e378:8000:63bf:3fff:fdd1'));
  // Ordinary IPv6 still by /64.
  assert.equal(key('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(key('2001:db8:1:2:aaaa::9'), '2001:db8:1:2::/64');
});

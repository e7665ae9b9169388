import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { clientKey } from '../../src/core/net.js';
import { ConnectionGuard } from '../../src/gateway/guard.js';

test('clientKey: IPv4 per address, IPv6 per /64, in any spelling', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:DB8:0001:0002:0:0:0:ffff'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('2001:db8:0:0:1::'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.notEqual(clientKey('2001:db8:1:2::1'), clientKey('2001:db8:1:3::1'));
  // Embedded IPv4 (NAT64) and scoped addresses stay whole: their /64 would merge unrelated clients.
  assert.equal(clientKey('64:ff9b::198.51.100.7'), '64:ff9b::198.51.100.7');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80::1%eth0');
  assert.equal(clientKey(''), '');
});

/**
 * A stand-in socket with a chosen peer address: loopback offers one IPv6 address (::1), and adding others needs
 * privileges CI does not have. The guard only reads remoteAddress/remotePort, listens for 'close' and calls destroy().
 */
class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly remoteAddress: string, readonly remotePort: number) {
    super();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

test('the per-IP connection limit counts an IPv6 /64 as one client', () => {
  const server = new EventEmitter() as unknown as Parameters<ConnectionGuard['attach']>[0];
  const guard = new ConnectionGuard(100, 2);
  guard.attach(server);
  const open = (addr: string, port: number) => {
    const s = new FakeSocket(addr, port);
    (server as unknown as EventEmitter).emit('connection', s as unknown as Socket);
    return s;
  };
  const a = open('2001:db8:1:2::1', 1000);
  const b = open('2001:db8:1:2::2', 1001);
  // A third address of the same /64 is the same client: refused.
  const c = open('2001:db8:1:2:ffff:ffff:ffff:fffe', 1002);
  assert.equal(a.destroyed, false);
  assert.equal(b.destroyed, false);
  assert.equal(c.destroyed, true);
  assert.equal(guard.refused, 1);
  // Another /64 has its own allowance.
  const d = open('2001:db8:1:3::1', 1003);
  assert.equal(d.destroyed, false);
  // A slot given back is usable again by the same /64.
  a.destroy();
  const e = open('2001:db8:1:2::99', 1004);
  assert.equal(e.destroyed, false);
  assert.equal(guard.open, 3);
  guard.destroyAll();
});

test('the per-IP limit still holds per IPv4 address through a real server', async () => {
  const server = createServer((s) => s.on('error', () => undefined));
  const guard = new ConnectionGuard(100, 1);
  guard.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const first = connect(port, '127.0.0.1');
  await once(first, 'connect');
  const second = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
  second.on('error', () => undefined);
  await once(second, 'close');
  const third = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  await once(third, 'connect');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(third.destroyed, false, 'another IPv4 address is another client');
  assert.equal(guard.refused, 1);
  first.destroy();
  third.destroy();
  guard.destroyAll();
  await new Promise<void>((r) => server.close(() => r()));
});

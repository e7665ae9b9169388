/**
 * TLS session ticket keys (server.tls.ticket_key_rotation): Gatehouse's own, applied to every attached server,
 * replaced on a timer, kept across a certificate reload (which makes a new OpenSSL context with keys of its own),
 * and settable from outside (server.workers: the supervisor issues them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { createServerTls, generateDevCertificates, newTicketKeys } from '../../src/tls/index.js';

import { memoryLogger, tempDir, tlsConfig } from './helpers.js';

test('ticket keys: applied at attach, rotated on the timer, kept across a certificate reload, replaceable from outside', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const dev = await generateDevCertificates({ outDir: join(dir.path, 'dev') });
  const certFile = join(dir.path, 'server.crt');
  const keyFile = join(dir.path, 'server.key');
  copyFileSync(dev.serverCert, certFile);
  copyFileSync(dev.serverKey, keyFile);
  const tls = await createServerTls(tlsConfig({ cert_file: certFile, key_file: keyFile, watch: false, ticket_key_rotation: 100 }), { stateDir: dir.path, logger: memoryLogger(), profile: 'development' });
  const server = createServer(tls.options);
  t.after(() => tls.close());
  const before = server.getTicketKeys();
  tls.attach(server);
  const first = server.getTicketKeys();
  assert.notDeepEqual(first, before, 'attach puts Gatehouse’s keys on the server');

  // A reload with a new pair makes a new context; the keys stay what they were. (Compared with the keys right before
  // the reload, not with `first`: the rotation timer runs meanwhile, and making the pair can outlast its 100 ms.)
  const other = await generateDevCertificates({ outDir: join(dir.path, 'other') });
  copyFileSync(other.serverCert, certFile);
  copyFileSync(other.serverKey, keyFile);
  const current = server.getTicketKeys();
  const reloaded = tls.reload();
  assert.ok(reloaded.ok && reloaded.changed, JSON.stringify(reloaded));
  assert.deepEqual(server.getTicketKeys(), current);

  // The rotation timer (100 ms here) replaces them.
  await new Promise((r) => setTimeout(r, 250));
  const rotated = server.getTicketKeys();
  assert.notDeepEqual(rotated, current);

  // From outside (the workers' supervisor): exactly these keys, on this server and on servers attached later.
  const issued = newTicketKeys();
  tls.setTicketKeys(issued);
  assert.deepEqual(server.getTicketKeys(), issued);
  const later = createServer(tls.options);
  tls.attach(later);
  assert.deepEqual(later.getTicketKeys(), server.getTicketKeys());
  assert.throws(() => tls.setTicketKeys(Buffer.alloc(16)), /48 bytes/);
});

test('ticket keys from outside: no rotation timer replaces what the supervisor issued', async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const tls = await createServerTls(tlsConfig({ ticket_key_rotation: 50 }), { stateDir: dir.path, logger: memoryLogger(), profile: 'development', ticketKeysFromOutside: true });
  t.after(() => tls.close());
  const server = createServer(tls.options);
  tls.attach(server);
  const issued = newTicketKeys();
  tls.setTicketKeys(issued);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(server.getTicketKeys(), issued);
});

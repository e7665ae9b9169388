/**
 * The syslog sink: RFC 5424 messages over UDP (RFC 5426, one message per datagram), TCP with octet-counting
 * framing (RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`) or TLS (RFC 5425, the same framing).
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM{record JSON}
 *
 * MSGID is the event type; severity is warning(4) for denied/error results and critical-risk operations, else
 * info(6). Syslog over TCP has no application acknowledgement: a record written to a connection that then breaks
 * may be lost or, after the retry, sent twice. The audit file stays the complete record.
 *
 * A receiver that accepts and stops reading fills the socket buffers and a write never completes: a write that makes
 * no progress for `writeTimeoutMs` destroys the connection (the batch stays queued and is retried on a new connection,
 * with backoff), and close() destroys a connection its bounded flush gave up on instead of waiting for it to drain.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect as netConnect, isIPv6, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '../../core/types.js';
import { Batcher } from './batcher.js';
import type { AuditSink } from './types.js';

export interface SyslogSinkOptions {
  transport: 'udp' | 'tcp' | 'tls';
  host: string;
  port: number;
  facility: number;
  appName: string;
  caFile?: string | undefined;
  serverName?: string | undefined;
  batchMax: number;
  intervalMs: number;
  maxQueue: number;
  logger: Logger;
  /** TCP/TLS: a write that makes no progress this long ends the connection (default 10 s; tests shorten it). */
  writeTimeoutMs?: number;
}

const BOM = '\ufeff';
const MAX_UDP = 65_000;
const CONNECT_TIMEOUT_MS = 10_000;
const WRITE_TIMEOUT_MS = 10_000;
/** close(): how long a connection whose writes all completed may take to end before it is destroyed. */
const END_TIMEOUT_MS = 1000;

const timeoutError = (what: string): Error => Object.assign(new Error(`syslog ${what} timed out`), { code: 'ETIMEDOUT' });

// PRINTUSASCII (%d33-126) only, bounded: RFC 5424 §6.
const printable = (s: string, max: number): string => {
  const v = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return v.length > 0 ? v : '-';
};

const HOST = printable(hostname(), 255);

/** Formats one audit line as an RFC 5424 message. */
export function syslogMessage(line: string, facility: number, appName: string, host = HOST, pid = process.pid): string {
  let rec: Record<string, unknown> = {};
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    // Sent as is, with defaults in the header.
  }
  const failed = rec['result'] === 'denied' || rec['result'] === 'error' || rec['result_status'] === 'error';
  const severity = failed || rec['risk_level'] === 'critical' ? 4 : 6;
  const ts = typeof rec['timestamp'] === 'string' ? printable(rec['timestamp'], 40) : new Date().toISOString();
  const msgid = typeof rec['event_type'] === 'string' ? printable(rec['event_type'], 32) : '-';
  return `<${facility * 8 + severity}>1 ${ts} ${host} ${printable(appName, 48)} ${pid} ${msgid} - ${BOM}${line}`;
}

/** RFC 6587 octet counting: the length is of the message's bytes. */
export const octetFrame = (msg: string): string => `${Buffer.byteLength(msg)} ${msg}`;

export function createSyslogSink(o: SyslogSinkOptions): AuditSink {
  let udp: UdpSocket | undefined;
  let stream: Socket | undefined;
  const ca = o.caFile ? readFileSync(o.caFile) : undefined;

  const writeTimeoutMs = o.writeTimeoutMs ?? WRITE_TIMEOUT_MS;

  const openStream = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      const s =
        o.transport === 'tls'
          ? tlsConnect({ host: o.host, port: o.port, servername: o.serverName ?? o.host, ...(ca ? { ca } : {}) }, () => resolve(s))
          : netConnect({ host: o.host, port: o.port }, () => resolve(s));
      s.setTimeout(CONNECT_TIMEOUT_MS, () => s.destroy(timeoutError('connect')));
      s.once('error', onError);
      s.once('close', () => {
        if (stream === s) stream = undefined;
      });
      s.once(o.transport === 'tls' ? 'secureConnect' : 'connect', () => {
        s.setTimeout(0);
        s.off('error', onError);
        s.on('error', () => s.destroy());
      });
    });

  /** Writes one batch, a slice at a time, each with the write deadline (writeSlices). */
  const sendStream = async (lines: string[]): Promise<void> => {
    const s = stream && !stream.destroyed ? stream : (stream = await openStream());
    const data = Buffer.from(lines.map((l) => octetFrame(syslogMessage(l, o.facility, o.appName))).join(''));
    await writeSlices(s, data, writeTimeoutMs);
  };

  const sendUdp = async (lines: string[]): Promise<void> => {
    udp ??= createSocket(isIPv6(o.host) ? 'udp6' : 'udp4').unref();
    const sock = udp;
    for (const line of lines) {
      const msg = Buffer.from(syslogMessage(line, o.facility, o.appName));
      if (msg.length > MAX_UDP) {
        o.logger.warn({ sink: 'syslog', bytes: msg.length }, 'audit sink syslog: record larger than a datagram, not sent over UDP');
        continue;
      }
      await new Promise<void>((resolve, reject) => sock.send(msg, o.port, o.host, (err) => (err ? reject(err) : resolve())));
    }
  };

  const batcher = new Batcher({
    name: `syslog-${o.transport}`,
    batchMax: o.batchMax,
    intervalMs: o.intervalMs,
    maxQueue: o.maxQueue,
    logger: o.logger,
    // Reported stalled (health, a warn line) before the write deadline ends the connection.
    stallMs: Math.max(1, Math.floor(writeTimeoutMs / 2)),
    send: o.transport === 'udp' ? sendUdp : sendStream,
    abort: () => stream?.destroy(timeoutError('write')),
  });
  return {
    name: `syslog-${o.transport}`,
    deliver: (lines) => batcher.push(lines),
    async close() {
      await batcher.close();
      udp?.close();
      udp = undefined;
      const s = stream;
      stream = undefined;
      if (s && !s.destroyed) await endWithin(s, END_TIMEOUT_MS);
    },
    health: () => batcher.health(),
  };
}

const closedError = (): Error => Object.assign(new Error('syslog connection closed'), { code: 'ECONNRESET' });

/** Bytes written at a time: a receiver must take this many per write deadline to count as reading. */
const SLICE = 64 * 1024;

/**
 * Writes `data` in slices, each of which must be taken within `ms`: a receiver that stops reading fills the socket
 * buffers, a write then never completes, and the connection is destroyed (ETIMEDOUT). A slow receiver that still reads
 * is not cut off. (Node's own socket timeout cannot tell a stalled write from a progressing one: it is not used.)
 */
async function writeSlices(s: Socket, data: Buffer, ms: number): Promise<void> {
  for (let off = 0; off < data.length; off += SLICE) await writeOrFail(s, data.subarray(off, off + SLICE), ms);
}

/** One write; fails with the error that ended the connection if it ends first. */
function writeOrFail(s: Socket, chunk: Buffer, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => s.destroy(timeoutError('write')), ms);
    const onError = (e: Error): void => reject(e);
    const onClose = (): void => reject(closedError());
    s.once('error', onError);
    s.once('close', onClose);
    s.write(chunk, (err) => {
      clearTimeout(timer);
      s.off('error', onError);
      s.off('close', onClose);
      // A destroyed socket calls back without an error: the bytes were not written.
      if (err || s.destroyed) reject(err ?? closedError());
      else resolve();
    });
  });
}

/**
 * Ends a connection: once our FIN is queued behind the bytes already handed to the kernel, the socket is released.
 * Destroyed if that takes longer than `ms` (bytes still queued in Node for a receiver that does not read).
 */
function endWithin(s: Socket, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, ms);
    s.once('finish', done);
    s.once('close', done);
    s.end();
  });
}

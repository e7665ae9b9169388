/**
 * The syslog sink: RFC 5424 messages over UDP (RFC 5426, one message per datagram), TCP with octet-counting
 * framing (RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`) or TLS (RFC 5425, the same framing).
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM{record JSON}
 *
 * MSGID is the event type; severity is warning(4) for denied/error results and critical-risk operations, else
 * info(6). Syslog over TCP has no application acknowledgement: a record written to a connection that then breaks
 * may be lost or, after the retry, sent twice. The audit file stays the complete record.
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
}

const BOM = '\ufeff';
const MAX_UDP = 65_000;

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

  const openStream = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      const s =
        o.transport === 'tls'
          ? tlsConnect({ host: o.host, port: o.port, servername: o.serverName ?? o.host, ...(ca ? { ca } : {}) }, () => resolve(s))
          : netConnect({ host: o.host, port: o.port }, () => resolve(s));
      s.setTimeout(10_000, () => s.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })));
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

  const sendStream = async (lines: string[]): Promise<void> => {
    const s = stream && !stream.destroyed ? stream : (stream = await openStream());
    const data = lines.map((l) => octetFrame(syslogMessage(l, o.facility, o.appName))).join('');
    await new Promise<void>((resolve, reject) => s.write(data, (err) => (err ? reject(err) : resolve())));
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
    send: o.transport === 'udp' ? sendUdp : sendStream,
  });
  return {
    name: `syslog-${o.transport}`,
    deliver: (lines) => batcher.push(lines),
    async close() {
      await batcher.close();
      udp?.close();
      udp = undefined;
      if (stream) await new Promise<void>((resolve) => (stream as Socket).end(resolve));
      stream = undefined;
    },
    health: () => batcher.health(),
  };
}

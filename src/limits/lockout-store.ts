import { isIP } from 'node:net';
import { GatehouseError } from '../core/errors.js';
import { clientKey, normalizeIp } from '../core/net.js';
import type { StateStore } from '../core/store.js';

/**
 * Lockouts live in the shared state store (namespace `lockouts`, one entry per locked subject with a TTL of the
 * lockout's length), so every worker and every gateway on the state directory refuses the subject within a poll, a
 * restart does not lift one, and the CLI can list, add and lift them.
 */
export const NS_LOCKOUTS = 'lockouts';

export type LockoutKind = 'ip' | 'principal';

export interface LockoutRecord {
  kind: LockoutKind;
  /** The client key (an IPv4 address, an IPv6 /64) or the claimed principal. */
  subject: string;
  /** ms since the epoch. */
  since: number;
  until: number;
  reason: 'failures' | 'manual';
  /** Failed authentications counted when it was locked (reason failures). */
  failures?: number;
  /** An operator's note (reason manual). Free text: shown as written, never a credential. */
  note?: string;
}

const PRINCIPAL = /^[\x21-\x7e]{1,128}$/;

/**
 * `ip:ADDRESS` or `principal:NAME` → the stored key. An address is keyed as the limits count it (an IPv6 address
 * by its /64), so locking or unlocking any address of a prefix acts on the prefix. GH_USAGE for anything else.
 */
export function lockoutKey(kind: LockoutKind, subject: string): string {
  if (kind === 'ip') {
    const ip = normalizeIp(subject.trim().replace(/^\[(.*)\]$/, '$1'));
    if (isIP(ip) === 0) throw new GatehouseError('GH_USAGE', `not an IP address: "${subject.slice(0, 64)}"`);
    return `ip:${clientKey(ip)}`;
  }
  if (!PRINCIPAL.test(subject)) throw new GatehouseError('GH_USAGE', 'a principal is 1–128 printable characters without spaces');
  return `principal:${subject}`;
}

/** Parses `ip:…` / `principal:…` as an operator writes it. */
export function parseLockoutSubject(text: string): { kind: LockoutKind; key: string } {
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  if (colon <= 0 || (kind !== 'ip' && kind !== 'principal')) throw new GatehouseError('GH_USAGE', 'expected ip:ADDRESS or principal:NAME');
  return { kind, key: lockoutKey(kind, text.slice(colon + 1)) };
}

/** The subject part of a stored key (`ip:10.0.0.1` → 10.0.0.1). */
export const subjectOf = (key: string): string => key.slice(key.indexOf(':') + 1);

export async function writeLockout(store: StateStore, key: string, rec: LockoutRecord): Promise<void> {
  await store.put(NS_LOCKOUTS, key, rec, { ttlMs: Math.max(1, rec.until - rec.since) });
}

/** Lifts a lockout; false when there was none. */
export function deleteLockout(store: StateStore, key: string): Promise<boolean> {
  return store.delete(NS_LOCKOUTS, key);
}

/** Lockouts in force (the store drops expired ones), by key. */
export async function listLockouts(store: StateStore, now: number): Promise<Array<LockoutRecord & { key: string }>> {
  const out: Array<LockoutRecord & { key: string }> = [];
  for (const e of await store.list<LockoutRecord>(NS_LOCKOUTS)) if (e.value.until > now) out.push({ ...e.value, key: e.key });
  return out;
}

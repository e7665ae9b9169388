/**
 * Pending approval requests per principal, in a small namespace of their own: one entry per principal holding the ids
 * of its pending requests and their expiries. It caps how many requests one principal may have waiting (an agent
 * re-asking until someone clicks approve), and lets the pending gauge and `list --status pending` read a few small
 * entries instead of every record with its arguments. Each change is one atomic store.update; ids expire with their
 * request, so a reservation lost to a crash frees itself.
 */
import { createHash } from 'node:crypto';
import type { StateStore } from '../core/store.js';
import { canonicalJson } from './canonical.js';

export const PENDING_NS = 'approval_pending';

/** Ids of one principal's pending requests → when each expires (ms). */
interface PendingEntry {
  ids: Record<string, number>;
}

/** The entry key of a principal: its id within its realm (not secret: both are shown to approvers). */
export function principalKey(principal: string, realm: string | undefined): string {
  return createHash('sha256').update(canonicalJson([principal, realm ?? null])).digest('hex');
}

function live(entry: PendingEntry | undefined, now: number): Record<string, number> {
  const out = Object.create(null) as Record<string, number>;
  if (!entry || typeof entry.ids !== 'object' || entry.ids === null) return out;
  for (const [id, exp] of Object.entries(entry.ids)) if (typeof exp === 'number' && exp > now) out[id] = exp;
  return out;
}

const stored = (ids: Record<string, number>): PendingEntry | undefined => (Object.keys(ids).length === 0 ? undefined : { ids: { ...ids } });

/**
 * Counts `id` as pending for `key` until `expiresAt`, unless `max` are pending already. Returns undefined when
 * reserved, else the earliest expiry among the pending ones (when a slot frees at the latest).
 */
export async function reservePending(store: StateStore, key: string, id: string, expiresAt: number, now: number, max: number): Promise<number | undefined> {
  let full: number | undefined;
  await store.update<PendingEntry>(
    PENDING_NS,
    key,
    (cur) => {
      full = undefined;
      const ids = live(cur, now);
      const exps = Object.values(ids);
      if (exps.length >= max) {
        full = Math.min(...exps);
        return cur;
      }
      ids[id] = expiresAt;
      return stored(ids);
    },
    // The newest id lives longest: the entry lives as long as it.
    { ttlMs: expiresAt - now + 1000 },
  );
  return full;
}

/** No longer pending (decided, expired, or lost a race to an identical request). */
export async function releasePending(store: StateStore, key: string, id: string, now: number): Promise<void> {
  await store.update<PendingEntry>(PENDING_NS, key, (cur) => {
    if (!cur) return cur;
    const ids = live(cur, now);
    delete ids[id];
    return stored(ids);
  });
}

/** Every pending id, across principals (small entries: no record, no arguments, is read). */
export async function pendingIds(store: StateStore, now: number): Promise<string[]> {
  const out: string[] = [];
  for (const e of await store.list<PendingEntry>(PENDING_NS)) out.push(...Object.keys(live(e.value, now)));
  return out;
}

import { z } from 'zod';
import { parseDuration } from '../../core/durations.js';
import { parseBytes } from '../../core/bytes.js';
import { ipMatcher } from '../../core/net.js';
import { ENV_NAME_RE } from '../../core/ids.js';

type Parse = (v: string | number) => number;
const checked = (parse: Parse) => (v: string | number, ctx: z.RefinementCtx): number => {
  try {
    return parse(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
};
const value = () => z.union([z.string(), z.number()]);

/** A duration written as "30s"/"1h"/"7d" or a number of ms; parsed to milliseconds. Optional in input when defaulted. */
export function duration(): z.ZodPipe<ReturnType<typeof value>, z.ZodTransform<number, string | number>>;
export function duration(def: string): z.ZodDefault<z.ZodPipe<ReturnType<typeof value>, z.ZodTransform<number, string | number>>>;
export function duration(def?: string) {
  const base = value().transform(checked(parseDuration));
  return def === undefined ? base : base.default(parseDuration(def));
}

/** The longest delay a Node timer takes (2^31 − 1 ms, about 24.8 days); a longer one would fire after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A duration that ends up in a timer (setTimeout, socket and pool timeouts): refused at load past MAX_TIMER_MS, where
 * Node would otherwise fire it at once (a hold that never holds, a poll every millisecond) or throw at start.
 */
export function timerDuration(def: string) {
  return duration(def).refine((ms) => ms <= MAX_TIMER_MS, 'at most 24d: a longer timer would fire at once');
}

/** A size written as "1mb"/"16kb" or a number of bytes; parsed to bytes. Optional in input when defaulted. */
export function bytes(): z.ZodPipe<ReturnType<typeof value>, z.ZodTransform<number, string | number>>;
export function bytes(def: string | number): z.ZodDefault<z.ZodPipe<ReturnType<typeof value>, z.ZodTransform<number, string | number>>>;
export function bytes(def?: string | number) {
  const base = value().transform(checked(parseBytes));
  return def === undefined ? base : base.default(parseBytes(def));
}

/** A file path field. `*_file` fields are checked to be readable at load (see config/load.ts). */
export const filePath = () => z.string().min(1);

/** A nested section whose inner defaults apply when the section is absent. */
export const section = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject(shape).prefault({} as z.input<z.ZodObject<T, z.core.$strict>>);

/** Tenant ids in configuration (authz.tenants, residency.tenants …). */
export const tenantId = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'a tenant id is 1-128 of A-Z a-z 0-9 _ - .');

export const scopeName = z.string().regex(/^[A-Za-z0-9_.:*-]{1,128}$/, 'a scope is letters, digits and _.:*- (at most 128)');

/** An IP address or CIDR (IPv4 or IPv6), checked as node's BlockList will read it. */
export const ipOrCidr = () =>
  z.string().min(1).superRefine((v, ctx) => {
    try {
      ipMatcher([v]);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  });

/** An environment variable's name (a value written here by mistake is refused without being shown back in full). */
export const envName = z.string().regex(ENV_NAME_RE, 'an environment variable name');

import { z } from 'zod';
import { parseDuration } from '../../core/durations.js';
import { parseBytes } from '../../core/bytes.js';

type Parse = (v: string | number) => number;
const parsed = (parse: Parse, def: string | number | undefined) => {
  const value = z.union([z.string(), z.number()]);
  const check = (v: string | number, ctx: z.RefinementCtx): number => {
    try {
      return parse(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  };
  return def === undefined
    ? value.transform(check)
    : value.optional().transform((v, ctx) => check(v ?? def, ctx));
};

/** A duration written as "30s"/"1h"/"7d" or a number of ms; parsed to milliseconds. */
export const duration = (def?: string) => parsed(parseDuration, def);

/** A size written as "1mb"/"16kb" or a number of bytes; parsed to bytes. */
export const bytes = (def?: string | number) => parsed(parseBytes, def);

/** A file path field. `*_file` fields are checked to be readable at load (see config/load.ts). */
export const filePath = () => z.string().min(1);

/** A nested section whose inner defaults apply when the section is absent. */
export const section = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject(shape).prefault({} as z.input<z.ZodObject<T, z.core.$strict>>);

export const scopeName = z.string().regex(/^[A-Za-z0-9_.:*-]{1,128}$/, 'a scope is letters, digits and _.:*- (at most 128)');

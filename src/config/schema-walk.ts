import type { z } from 'zod';

/** Minimal view of zod 4's internal definitions, enough to walk the closed schema by path. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Peels wrappers (default, prefault, optional, nullable, pipe/transform) down to the structural schema. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else break;
  }
  return s;
}

/** The schema at a path of keys and indexes, or undefined when the path leaves the schema. */
export function schemaAt(root: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  for (const seg of path) {
    if (!s) return undefined;
    const d = defOf(unwrap(s));
    if (d.type === 'object' && typeof seg === 'string') s = d.shape?.[seg];
    else if (d.type === 'array' && typeof seg === 'number') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    // A union of objects (audit.sinks[]: syslog | http): the first option that has the key.
    else if (d.type === 'union' && typeof seg === 'string') s = (d.options ?? []).map((o) => defOf(unwrap(o))).find((o) => o.type === 'object' && o.shape?.[seg] !== undefined)?.shape?.[seg];
    else return undefined;
  }
  return s;
}

/** The keys an object schema at `path` accepts (empty when not an object; for a union, any option's keys). */
export function keysAt(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  const s = schemaAt(root, path);
  return s ? objectKeys(s) : [];
}

function objectKeys(schema: z.ZodType): string[] {
  const d = defOf(unwrap(schema));
  if (d.type === 'object' && d.shape) return Object.keys(d.shape);
  if (d.type === 'union') return [...new Set((d.options ?? []).flatMap((o) => objectKeys(o)))];
  return [];
}

/** A short human description of what a schema expects, for "wrong type" messages. */
export function describeExpected(schema: z.ZodType | undefined): string {
  if (!schema) return 'a valid value';
  const d = defOf(unwrap(schema));
  switch (d.type) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'union':
      return (d.options ?? []).map((o) => describeExpected(o)).join(' or ');
    default:
      return `a ${d.type}`;
  }
}

/** Levenshtein distance, bounded inputs only (config keys). */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number;
      prev[j] = Math.min((prev[j] as number) + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length] as number;
}

/** The valid key closest to `key`, if any is reasonably close. */
export function nearestKey(key: string, valid: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const v of valid) {
    const d = distance(key.toLowerCase(), v.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = v;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

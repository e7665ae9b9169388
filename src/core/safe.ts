/** Prototype-free maps for anything keyed by user input (pino, jose). */
export function nullObject<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Copies entries into a prototype-free object. */
export function toNullObject<T>(entries: Iterable<readonly [string, T]> | Record<string, T>): Record<string, T> {
  const out = nullObject<T>();
  const iter = Symbol.iterator in Object(entries) ? (entries as Iterable<readonly [string, T]>) : Object.entries(entries);
  for (const [k, v] of iter) out[k] = v;
  return out;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

/** JSON.parse that drops __proto__/constructor/prototype keys and bounds the input size. */
export function safeJsonParse(text: string, maxBytes = 1_048_576): unknown {
  if (text.length > maxBytes) throw new RangeError('JSON input too large');
  return JSON.parse(text, (key, value: unknown) => (isForbiddenKey(key) ? undefined : value));
}

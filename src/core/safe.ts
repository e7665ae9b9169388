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

const dropForbidden = (key: string, value: unknown): unknown => (isForbiddenKey(key) ? undefined : value);

/**
 * JSON.parse that drops __proto__/constructor/prototype keys and bounds the input size. The reviver that drops them
 * calls back into JS for every value, so it runs only when a forbidden key can be in the text: when one of the three
 * words occurs in it, or any backslash (an escape such as `__pro\u0074o__` spells a key the raw text does not show).
 */
export function safeJsonParse(text: string, maxBytes = 1_048_576): unknown {
  if (text.length > maxBytes) throw new RangeError('JSON input too large');
  const mayHoldForbidden = text.includes('\\') || text.includes('__proto__') || text.includes('constructor') || text.includes('prototype');
  return mayHoldForbidden ? JSON.parse(text, dropForbidden) : JSON.parse(text);
}

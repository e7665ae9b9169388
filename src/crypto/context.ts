/**
 * Canonical encoding of a caller context (tenant, namespace, stream, route …) into AAD bytes, so both sides build
 * exactly the same bytes and no two different contexts encode alike (docs/formats.md, "Context AAD"):
 *
 *   "GHC1" | for each field, sorted by name: u8 name length | name | u32 BE value length | value (UTF-8)
 *
 * Fields whose value is undefined are left out; an empty object encodes to the 4-byte prefix alone.
 */
const PREFIX = Buffer.from('GHC1', 'latin1');
const NAME_RE = /^[a-z][a-z0-9_]{0,63}$/;
/** Bounds the AAD so a context cannot be used to make every operation expensive. */
export const MAX_CONTEXT_BYTES = 8192;

export type CryptoContext = Readonly<Record<string, string | undefined>>;

export function encodeContext(context: CryptoContext): Buffer {
  const names = Object.keys(context)
    .filter((k) => context[k] !== undefined)
    .sort();
  const parts: Buffer[] = [PREFIX];
  let total = PREFIX.length;
  for (const name of names) {
    if (!NAME_RE.test(name)) throw new TypeError('a context field name is lower-case letters, digits and _');
    const value = Buffer.from(String(context[name]), 'utf8');
    const head = Buffer.allocUnsafe(1 + name.length + 4);
    head[0] = name.length;
    head.write(name, 1, 'latin1');
    head.writeUInt32BE(value.length, 1 + name.length);
    parts.push(head, value);
    total += head.length + value.length;
    if (total > MAX_CONTEXT_BYTES) throw new RangeError(`a context encodes to at most ${MAX_CONTEXT_BYTES} bytes`);
  }
  return Buffer.concat(parts, total);
}

/**
 * A route's injected upstream credentials (routes[].upstream_auth) masked out of its response bodies as they stream.
 * Error bodies are buffered and redacted whole (errorBodyFilter); a successful answer streams, and an upstream that
 * reflects its request (a debug endpoint, an echo service, a "whoami" that prints the headers it got) would hand the
 * client the very credential the gateway injects so that clients never hold it. Each occurrence, in each form the
 * redactor knows (raw, JSON-escaped, with `\/`, percent-encoded in either hex case, form-encoded), is overwritten
 * with `*` of the same length, so a Content-Length stays true and nothing else in the body moves.
 *
 * Streaming without delaying it: a chunk is sent whole unless it ends with the beginning of a form; only those
 * bytes are held, until the next chunk tells whether the form completes. A body the upstream compresses is not
 * read this way (the gateway asks these routes' upstreams for identity encoding: proxy.ts drops Accept-Encoding).
 */
import { MIN_KNOWN_LENGTH, secretForms } from '../redact/index.js';

const STAR = 0x2a;

/** The byte forms of a secrets list, built once per distinct list (the injector hands out the same values). */
let cachedKey = '';
let cachedNeedles: Buffer[] = [];

/** The byte forms of a route's secrets, longest first: what EchoMask masks and error bodies are scrubbed of. */
export function echoFormBytes(secrets: readonly string[]): Buffer[] {
  const key = secrets.join('\0');
  if (key === cachedKey) return cachedNeedles;
  const forms = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length < MIN_KNOWN_LENGTH) continue;
    for (const f of secretForms(s)) {
      forms.add(f);
      // encodeURIComponent writes upper-case hex; many encoders write lower case.
      if (/%[0-9A-F]{2}/.test(f)) forms.add(f.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
      if (f.includes('%20')) forms.add(f.replaceAll('%20', '+'));
    }
  }
  cachedNeedles = [...forms].map((f) => Buffer.from(f, 'utf8')).sort((a, b) => b.length - a.length);
  cachedKey = key;
  return cachedNeedles;
}

export class EchoMask {
  readonly #needles: Buffer[];
  #held: Buffer | undefined;
  /** Occurrences masked so far (logged by the caller). */
  masked = 0;

  constructor(secrets: readonly string[]) {
    this.#needles = echoFormBytes(secrets);
  }

  /** Whether there is anything to mask at all. */
  get active(): boolean {
    return this.#needles.length > 0;
  }

  /** The bytes to send now: `chunk` (after what was held) with every complete form masked, minus a possible form's start at its end. */
  push(chunk: Buffer): Buffer {
    let buf = this.#held === undefined ? chunk : Buffer.concat([this.#held, chunk]);
    this.#held = undefined;
    let copied = false;
    for (const needle of this.#needles) {
      let at = buf.indexOf(needle);
      while (at >= 0) {
        if (!copied) {
          // The chunk may be undici's own buffer, or one the caller keeps: never written in place.
          buf = Buffer.from(buf);
          copied = true;
        }
        buf.fill(STAR, at, at + needle.length);
        this.masked++;
        at = buf.indexOf(needle, at + needle.length);
      }
    }
    const keep = this.#partialTail(buf);
    if (keep === 0) return buf;
    this.#held = Buffer.from(buf.subarray(buf.length - keep));
    return buf.subarray(0, buf.length - keep);
  }

  /** What was held when the body ends: the start of a form that never completed, sent as it is. */
  flush(): Buffer | undefined {
    const held = this.#held;
    this.#held = undefined;
    return held;
  }

  /** The length of the longest suffix of `buf` that is a proper prefix of a form (0 almost always). */
  #partialTail(buf: Buffer): number {
    let best = 0;
    for (const needle of this.#needles) {
      const max = Math.min(needle.length - 1, buf.length);
      // Only where the form's first byte occurs in the last max bytes can a prefix start.
      const first = needle[0] as number;
      for (let start = buf.length - max; start < buf.length; start++) {
        if (buf[start] !== first) continue;
        const len = buf.length - start;
        if (len <= best) break;
        if (buf.compare(needle, 0, len, start, buf.length) === 0) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}

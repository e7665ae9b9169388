/**
 * A fixed set of secrets (a route's injected upstream credentials) scrubbed out of text that must otherwise pass
 * as it is: response header values, where the text rules would also take cookies and other headers the client
 * needs. The same matching as the known-secret registry — each value in all its forms (known.ts variants), also
 * inside runs holding %XX or \uXXXX escapes, read decoded as the text engine reads them (percent.ts) — and nothing
 * else. A `Location: /login?retry_with=wJalr%2FKEY%2B…` loses the key however the upstream encoded it.
 */
import { KnownSecrets } from './known.js';
import { encodedRuns, percentDecode } from './percent.js';
import { applySpans, mergeSpans } from './text.js';
import type { Span } from './types.js';

/**
 * Matchers per secrets list: a route hands out the same array until its secrets change. The values are compared
 * too, so an array changed in place never keeps a matcher that lacks its new value.
 */
const matchers = new WeakMap<readonly string[], { values: string[]; known: KnownSecrets }>();

function matcherFor(secrets: readonly string[]): KnownSecrets {
  const hit = matchers.get(secrets);
  if (hit && hit.values.length === secrets.length && hit.values.every((v, i) => v === secrets[i])) return hit.known;
  const known = new KnownSecrets();
  for (const s of secrets) if (typeof s === 'string') known.add(s);
  matchers.set(secrets, { values: [...secrets], known });
  return known;
}

/**
 * `text` with every occurrence of each secret (8 characters or more), in any of its forms, replaced by [REDACTED];
 * `text` itself when there is none. One pass for the raw text and one per escaped run (linear in `text`).
 */
export function scrubEchoes(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || text.length === 0) return text;
  const known = matcherFor(secrets);
  if (known.size === 0) return text;
  const spans: Span[] = [];
  known.find(text, spans);
  const escape = Math.min(indexOrEnd(text, '%'), indexOrEnd(text, '\\u'));
  if (escape < text.length) {
    const runs = encodedRuns(text, escape);
    for (let k = 0; k < runs.length; k += 2) {
      const d = percentDecode(text, runs[k]!, runs[k + 1]!);
      if (!d) continue;
      const found: Span[] = [];
      known.find(d.text, found);
      for (const s of found) {
        const start = d.map[s.start]!;
        const end = d.map[s.end]!;
        if (end > start) spans.push({ ...s, start, end });
      }
    }
  }
  return spans.length === 0 ? text : applySpans(text, mergeSpans(spans));
}

function indexOrEnd(text: string, s: string): number {
  const i = text.indexOf(s);
  return i < 0 ? text.length : i;
}

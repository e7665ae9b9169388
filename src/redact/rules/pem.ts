/**
 * Certificate and key content (seed 004) → `[CERTIFICATE REDACTED]`: PEM blocks (RFC 7468) of any label
 * — CERTIFICATE, PRIVATE KEY, RSA/EC/OPENSSH/ENCRYPTED PRIVATE KEY, PGP blocks — whether their lines are
 * real newlines, spaces, or "\n" escapes inside a JSON string. A block cut off before its END line is
 * redacted to the end of its base64. Also bare DER in base64 (certificates and keys start "MII") and
 * base64 of a whole PEM file (Kubernetes secrets: "LS0tLS1CRUdJTi…").
 */
import { B64, cls, runEnd } from '../chars.js';
import { CERT_REDACTED, type Rule, type ScanContext } from '../types.js';

const BEGIN = '-----BEGIN ';
const END = '-----END ';

/** Index after "LABEL-----" starting at i (label: A-Z 0-9 space, at most 64), or -1. */
function afterLabel(text: string, i: number): number {
  let j = i;
  while (j < text.length && j - i < 64) {
    const c = text.charCodeAt(j);
    if ((c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 32) j++;
    else break;
  }
  return j > i && text.startsWith('-----', j) ? j + 5 : -1;
}

/** Length of a separator at i: space, tab, CR, LF, or a "\n" "\r" "\t" escape; 0 if none. */
function separatorAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 32 || c === 9 || c === 10 || c === 13) return 1;
  if (c === 92) {
    const d = text.charCodeAt(i + 1);
    if (d === 110 || d === 114 || d === 116) return 2;
  }
  return 0;
}

export interface PemBody {
  /** End of the body (after the END line when closed). */
  end: number;
  /** True when the END line was found. */
  closed: boolean;
}

/** Encapsulated headers allowed before the base64 (RFC 1421 legacy keys, RFC 4880 armor). */
const HEADER_NAMES = new Set(['proc-type:', 'dek-info:', 'comment:', 'version:', 'hash:', 'charset:']);

/** End of the non-separator word at i. */
function wordEnd(text: string, i: number): number {
  while (i < text.length && !separatorAt(text, i)) i++;
  return i;
}

/** After a header name: the rest of its line (to a real newline or a "\n" escape). */
function headerLineEnd(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13 || (c === 92 && text.charCodeAt(i + 1) === 110)) break;
    i++;
  }
  return i;
}

/**
 * Reads a PEM body from i (openEnded when more text may follow, as in a stream): base64 words separated by whitespace or escapes, optional headers
 * (Proc-Type: 4,ENCRYPTED) first, up to "-----END LABEL-----". A base64 word is taken when it is long
 * (≥ 40, a full body line), ends in '=' padding, or is followed by the END line; so a truncated block
 * followed by ordinary words ("INFO request done") stops before them. Linear: one look per character.
 */
export function scanPemBody(text: string, i: number, openEnded = false): PemBody {
  let lastGood = i;
  let inHeaders = true;
  let tentative = false; // a short word was read: only an END line may follow
  let tentativeEnd = i;
  while (i < text.length) {
    const sep = separatorAt(text, i);
    if (sep) {
      i += sep;
      continue;
    }
    if (text.startsWith(END, i)) {
      const after = afterLabel(text, i + END.length);
      return { end: after > 0 ? after : i + END.length, closed: true };
    }
    if (tentative) break;
    let e = runEnd(text, i, B64);
    while (text.charCodeAt(e) === 61 /* = */) e++;
    const isWord = e > i && (e >= text.length || separatorAt(text, e) > 0 || text.startsWith(END, e));
    if (isWord) {
      inHeaders = false;
      if (e - i >= 40 || text.charCodeAt(e - 1) === 61) lastGood = e;
      else {
        tentative = true;
        tentativeEnd = e;
      }
      i = e;
      continue;
    }
    if (inHeaders) {
      const w = wordEnd(text, i);
      if (HEADER_NAMES.has(text.slice(i, Math.min(w, i + 12)).toLowerCase())) {
        i = lastGood = headerLineEnd(text, w);
        continue;
      }
    }
    break;
  }
  // openEnded: the text is a piece of a stream; a short last word may be followed by END in the next piece.
  if (openEnded && tentative && i >= text.length) lastGood = tentativeEnd;
  return { end: lastGood, closed: false };
}

/** How far past a BEGIN line, on the same line, an END line is looked for when the body holds something unexpected. */
const END_WINDOW = 16_384;

export const pemBlock: Rule = {
  id: 'pem',
  category: 'pem',
  triggers: ['-----begin '],
  match(ctx: ScanContext, start: number, _end: number, index: number) {
    const { text } = ctx;
    if (!text.startsWith(BEGIN, start)) return false;
    const header = afterLabel(text, start + BEGIN.length);
    if (header < 0) return false;
    const body = scanPemBody(text, header);
    let stop = body.end;
    if (!body.closed) {
      // Something unexpected inside ("MIIB...", a truncated line): redact through an END on the same line if there is one.
      // until[index] records how far it is known that no END line exists, so no character is searched twice.
      const from = Math.max(header, ctx.until[index]!);
      let limit = Math.min(text.length, header + END_WINDOW);
      const nl = from < limit ? text.slice(from, limit).indexOf('\n') : -1;
      if (nl >= 0) limit = from + nl;
      const found = from < limit ? text.slice(from, limit).indexOf(END) : -1;
      if (found >= 0) {
        const endLine = from + found;
        const after = afterLabel(text, endLine + END.length);
        stop = after > 0 ? after : endLine + END.length;
      } else {
        ctx.until[index] = Math.max(ctx.until[index]!, limit - END.length);
        if (stop >= lastNonSpace(text)) ctx.openPem = true;
      }
    }
    ctx.push(start, stop, CERT_REDACTED, 'pem', 'pem');
    return true;
  },
};

function lastNonSpace(text: string): number {
  let i = text.length;
  while (i > 0 && separatorAt(text, i - 1) === 1) i--;
  return i;
}

function base64Run(id: string, prefix: string, min: number): Rule {
  return {
    id,
    category: 'pem',
    triggers: [prefix],
    match(ctx, start) {
      const { text } = ctx;
      if (!text.startsWith(prefix, start)) return false;
      if (start > 0 && cls(text, start - 1) & B64) return false;
      let e = runEnd(text, start, B64);
      if (e - start < min) return false;
      while (text.charCodeAt(e) === 61) e++;
      ctx.push(start, e, CERT_REDACTED, 'pem', id);
      return true;
    },
  };
}

export const pemRules: readonly Rule[] = [pemBlock, base64Run('der-base64', 'MII', 64), base64Run('pem-base64', 'LS0tLS1CRUdJTi', 40)];

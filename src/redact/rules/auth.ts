/**
 * `Bearer <token>` → `Bearer [REDACTED]` and `Basic <credentials>` → `Basic [REDACTED]` (seed 004), wherever
 * they appear: headers, curl command lines, error messages. The scheme word stays; the credentials go.
 */
import { ALNUM, TOKEN68, cls, runEnd, startsAtFolded } from '../chars.js';
import { REDACTED, type Rule, type ScanContext } from '../types.js';

/** Words that follow "Bearer"/"Basic" in prose and messages ("Bearer token required", "Basic auth enabled"). */
const STOP_WORDS = new Set([
  'a', 'an', 'and', 'or', 'not', 'the', 'is', 'was', 'are', 'be', 'for', 'with', 'in', 'of', 'to', 'on', 'via', 'only', 'scheme',
  'token', 'tokens', 'auth', 'authentication', 'authorization', 'realm', 'header', 'headers', 'required', 'missing', 'invalid',
  'expired', 'format', 'prefix', 'type', 'credentials', 'credential', 'value', 'string', 'jwt', 'access', 'usage', 'setup',
  'example', 'examples', 'mode', 'support', 'supported', 'login', 'user', 'users', 'settings', 'config', 'configuration',
  'info', 'information', 'plan', 'tier', 'level', 'version', 'test', 'tests', 'check', 'checks', 'errors', 'error', 'it',
]);

/** Skips the space between scheme and credentials: spaces/tabs, "%20" or "+" (URL-encoded). Returns -1 if none. */
function skipSchemeSpace(text: string, i: number): number {
  const from = i;
  for (let k = 0; k < 16; k++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9) i++;
    else if (c === 43 /* + */ && i === from) i++;
    else if (c === 37 /* % */ && text.charCodeAt(i + 1) === 50 && text.charCodeAt(i + 2) === 48) i += 3;
    else break;
  }
  return i > from ? i : -1;
}

/** [start, end) of the token68 credentials after the scheme, with '=' padding; undefined when there are none. */
function credentials(text: string, at: number): [number, number] | undefined {
  const s = skipSchemeSpace(text, at);
  if (s < 0) return undefined;
  let e = runEnd(text, s, TOKEN68);
  if (e === s) return undefined;
  const word = text.slice(s, Math.min(e, s + 24));
  // An auth-param (realm="x", error=invalid_token) is a lowercase name followed by '='.
  if (text.charCodeAt(e) === 61 && /^[a-z_]{1,20}$/.test(word) && e - s <= 20) return undefined;
  while (text.charCodeAt(e) === 61 /* = */) e++;
  if (e - s <= 24 && /^[A-Za-z]+$/.test(word) && STOP_WORDS.has(word.toLowerCase())) return undefined;
  return [s, e];
}

function wordBoundaryBefore(text: string, start: number): boolean {
  if (start === 0) return true;
  return text.charCodeAt(start - 1) !== 95 /* _ */ && (cls(text, start - 1) & ALNUM) === 0;
}

export const bearer: Rule = {
  id: 'bearer',
  category: 'bearer',
  triggers: ['bearer', 'apikey '],
  match(ctx: ScanContext, start: number, end: number) {
    const { text } = ctx;
    if (!wordBoundaryBefore(text, start)) return false;
    const apiKey = end - start === 7;
    const cred = credentials(text, apiKey ? end - 1 : end);
    if (!cred) return false;
    // "ApiKey <base64>" (Elasticsearch's scheme) only with a credential-shaped value: prose says "apikey is".
    if (apiKey && (cred[1] - cred[0] < 16 || !/[0-9]/.test(text.slice(cred[0], Math.min(cred[1], cred[0] + 256))))) return false;
    ctx.push(cred[0], cred[1], REDACTED, 'bearer', 'bearer');
    return true;
  },
};

/** True when `run` is base64 of printable "user:password" (RFC 7617). */
export function isBasicCredentials(run: string): boolean {
  if (run.length < 8 || run.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(run)) return false;
  const bytes = Buffer.from(run, 'base64');
  let colon = false;
  for (const b of bytes) {
    if (b < 0x20 || b > 0x7e) return false;
    if (b === 0x3a) colon = true;
  }
  return colon;
}

/** Is there an "authorization" header name just before? (Then any credentials after Basic are redacted.) */
function inAuthorizationHeader(text: string, start: number): boolean {
  const from = Math.max(0, start - 40);
  for (let i = start - 13; i >= from; i--) if (startsAtFolded(text, i, 'authorization')) return true;
  return false;
}

export const basic: Rule = {
  id: 'basic',
  category: 'basic',
  triggers: ['basic'],
  match(ctx, start, end) {
    const { text } = ctx;
    if (!wordBoundaryBefore(text, start)) return false;
    const cred = credentials(text, end);
    if (!cred) return false;
    if (!inAuthorizationHeader(text, start) && !isBasicCredentials(text.slice(cred[0], cred[1]))) return false;
    ctx.push(cred[0], cred[1], REDACTED, 'basic', 'basic');
    return true;
  },
};

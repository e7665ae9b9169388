import { rawHeaderValues } from '../core/net.js';
import type { Exchange } from '../core/types.js';
import { credentialError, type Credentials } from './method.js';

const NONE: Credentials = Object.freeze({ scheme: undefined, bearer: undefined, basic: undefined });
// RFC 7617's base64 for Basic. Linear: one character class. (Bearer values are checked by each method's own
// stricter syntax before anything is decoded.)
const BASE64 = /^[A-Za-z0-9+/]+=*$/;

/**
 * Reads the Authorization header once: bounded (the length is checked before anything is decoded), a repeated
 * header refused as ambiguous, the scheme case-insensitive (RFC 9110 §11.1).
 */
export function readCredentials(ex: Exchange, maxLength: number): Credentials {
  const h = ex.req.headers.authorization;
  if (h === undefined) return NONE;
  if (h.length > maxLength) throw credentialError('GH_TOKEN_MALFORMED', 'authorization_too_long');
  // Node keeps only the first of two Authorization lines in req.headers.
  if (rawHeaderValues(ex.req.rawHeaders, 'authorization').length > 1) throw credentialError('GH_AUTH_AMBIGUOUS', 'authorization_repeated');
  const sp = h.indexOf(' ');
  const scheme = (sp === -1 ? h : h.slice(0, sp)).toLowerCase();
  const value = sp === -1 ? '' : h.slice(sp + 1).trim();
  if (scheme === 'bearer') {
    if (value.length === 0) throw credentialError('GH_TOKEN_MALFORMED', 'bearer_syntax');
    return { scheme, bearer: value, basic: undefined };
  }
  if (scheme === 'basic') return { scheme, bearer: undefined, basic: decodeBasic(value) };
  return { scheme, bearer: undefined, basic: undefined };
}

/** RFC 7617: base64(user ":" password), UTF-8. Undecodable input is refused, not guessed at. */
function decodeBasic(value: string): { user: string; password: string } {
  if (value.length === 0 || value.length > 4096 || !BASE64.test(value)) throw credentialError('GH_CREDENTIALS_INVALID', 'basic_syntax');
  const text = Buffer.from(value, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || text.includes('\uFFFD')) throw credentialError('GH_CREDENTIALS_INVALID', 'basic_syntax');
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

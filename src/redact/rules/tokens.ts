/**
 * Token formats recognisable without a key name in front (issue 6): JWTs, Gatehouse's own tokens and
 * API keys, and the common provider formats. Each starts with a fixed prefix; the prefix must start a
 * token (the character before it is not a token character), which keeps every rule linear: a failed look
 * never repeats inside the same run of characters.
 */
import { ALNUM, B64URL, DIGIT, LOWER, UPPER, VALUE_STOP, cls, runEnd } from '../chars.js';
import { REDACTED, type Category, type Rule, type ScanContext } from '../types.js';

interface PrefixSpec {
  id: string;
  category: Category;
  /** Exact-case prefixes. */
  prefixes: readonly string[];
  /** Class of the body characters after the prefix. */
  body: number;
  minBody: number;
  /** A body longer than this is not this token (AWS key ids are exactly 20 characters). */
  maxBody?: number;
  /** The character before the prefix must not have this class. */
  boundary?: number;
  /** Extra shape test on the body. */
  check?: (text: string, from: number, to: number) => boolean;
}

/** A body with both a digit and an upper-case letter: random keys have both, kebab-case words do not. */
export function hasDigitAndUpper(text: string, from: number, to: number): boolean {
  let seen = 0;
  for (let i = from; i < to && seen !== (DIGIT | UPPER); i++) seen |= cls(text, i) & (DIGIT | UPPER);
  return seen === (DIGIT | UPPER);
}

function hasDigitAndLetter(text: string, from: number, to: number): boolean {
  let d = false;
  let l = false;
  for (let i = from; i < to && !(d && l); i++) {
    const f = cls(text, i);
    if (f & DIGIT) d = true;
    else if (f & (UPPER | LOWER)) l = true;
  }
  return d && l;
}

export function prefixRule(spec: PrefixSpec): Rule {
  const boundary = spec.boundary ?? B64URL;
  return {
    id: spec.id,
    category: spec.category,
    triggers: spec.prefixes,
    match(ctx: ScanContext, start: number, end: number) {
      const { text } = ctx;
      if (!spec.prefixes.some((p) => p.length === end - start && text.startsWith(p, start))) return false;
      if (start > 0 && cls(text, start - 1) & boundary) return false;
      const bodyEnd = runEnd(text, end, spec.body);
      const len = bodyEnd - end;
      if (len < spec.minBody || (spec.maxBody !== undefined && len > spec.maxBody)) return false;
      if (spec.check && !spec.check(text, end, bodyEnd)) return false;
      ctx.push(start, bodyEnd, REDACTED, spec.category, spec.id);
      return true;
    },
  };
}

/** Matches `part(.part)+` of base64url parts, each at least `min` long; returns the end or -1. */
function dottedParts(text: string, from: number, parts: number, min: number): number {
  let i = from;
  for (let k = 0; k < parts; k++) {
    if (k > 0) {
      if (text.charCodeAt(i) !== 46 /* . */) return -1;
      i++;
    }
    const e = runEnd(text, i, B64URL);
    if (e - i < min) return -1;
    i = e;
  }
  return i;
}

/**
 * JWS/JWE compact serialisation (RFC 7515 §7.1, RFC 7516 §7.1): a base64url JSON header ("eyJ" is
 * base64 of '{"'), then dot-separated base64url parts. The signature may be empty (alg none).
 */
const jwt: Rule = {
  id: 'jwt',
  category: 'jwt',
  triggers: ['eyJ'],
  match(ctx, start) {
    const { text } = ctx;
    if (!text.startsWith('eyJ', start)) return false;
    if (start > 0 && cls(text, start - 1) & B64URL) return false;
    const payloadEnd = dottedParts(text, start, 2, 8);
    if (payloadEnd < 0) return false;
    let end = payloadEnd;
    // Up to three more parts (JWS: signature; JWE: iv, ciphertext, tag); a trailing empty part is allowed.
    for (let k = 0; k < 3 && text.charCodeAt(end) === 46; k++) end = runEnd(text, end + 1, B64URL);
    ctx.push(start, end, REDACTED, 'jwt', 'jwt');
    return true;
  },
};

/**
 * Gatehouse bearer tokens: gh1.<kid>.<payload>.<sig>, base64url (src/authn/token-format.ts); also the
 * shorter gh1.<payload>.<sig>. The signature is the last part (43 characters for HMAC-SHA256).
 */
const gatehouseToken: Rule = {
  id: 'gatehouse-token',
  category: 'gatehouse',
  triggers: ['gh1.'],
  match(ctx, start, end) {
    const { text } = ctx;
    if (!text.startsWith('gh1.', start)) return false;
    if (start > 0 && cls(text, start - 1) & B64URL) return false;
    let e = end;
    let parts = 0;
    let last = 0;
    for (; parts < 4; parts++) {
      if (parts > 0) {
        if (text.charCodeAt(e) !== 46 /* . */) break;
        e++;
      }
      const p = runEnd(text, e, B64URL);
      if (p === e) return false;
      last = p - e;
      e = p;
    }
    if (parts < 2 || last < 16) return false;
    ctx.push(start, e, REDACTED, 'gatehouse', 'gatehouse-token');
    return true;
  },
};

/**
 * Gatehouse API keys: gh_<16 alphanumeric id>_<secret> (src/authn/api-key-store.ts). Generated secrets are
 * base64url; imported ones may hold any printable character, so after a well-formed id the secret runs to
 * the next blank, quote or separator. Without the exact id shape, a random-looking base64url tail counts.
 */
const gatehouseApiKey: Rule = {
  id: 'gatehouse-api-key',
  category: 'gatehouse',
  triggers: ['gh_', 'ght_'],
  match(ctx, start, end) {
    const { text } = ctx;
    if (!(text.startsWith('gh_', start) || text.startsWith('ght_', start))) return false;
    if (start > 0 && cls(text, start - 1) & B64URL) return false;
    const id = runEnd(text, end, ALNUM, 17);
    if (id - end === 16 && text.charCodeAt(id) === 95 /* _ */) {
      let e = id + 1;
      while (e < text.length && e - id <= 257) {
        const c = text.charCodeAt(e);
        if (c <= 32 || c > 126 || cls(text, e) & VALUE_STOP) break;
        e++;
      }
      if (e - id - 1 >= 8) {
        ctx.push(start, e, REDACTED, 'gatehouse', 'gatehouse-api-key');
        return true;
      }
    }
    const e = runEnd(text, end, B64URL);
    // The secret is after the last underscore: at least 16 characters with digits and letters. For gh_ there must
    // be one (gh_<id> alone is the public prefix that identifies a key).
    const lastUnderscore = text.lastIndexOf('_', e - 1);
    if (lastUnderscore < end && text.startsWith('gh_', start)) return false;
    const secretFrom = lastUnderscore >= end ? lastUnderscore + 1 : end;
    if (e - secretFrom < 16 || !hasDigitAndLetter(text, secretFrom, e)) return false;
    ctx.push(start, e, REDACTED, 'gatehouse', 'gatehouse-api-key');
    return true;
  },
};

/** Slack incoming-webhook URLs carry their secret in the path: hooks.slack.com/services/T…/B…/secret. */
const slackWebhook: Rule = {
  id: 'slack-webhook',
  category: 'slack',
  triggers: ['hooks.slack.com/services/'],
  match(ctx, _start, end) {
    const { text } = ctx;
    let i = end;
    while (i < text.length && (text.charCodeAt(i) === 47 /* / */ || cls(text, i) & ALNUM)) i++;
    if (i - end < 8) return false;
    ctx.push(end, i, REDACTED, 'slack', 'slack-webhook');
    return true;
  },
};

export const tokenRules: readonly Rule[] = [
  jwt,
  gatehouseToken,
  gatehouseApiKey,
  prefixRule({ id: 'aws-access-key-id', category: 'aws', prefixes: ['AKIA', 'ASIA', 'ABIA', 'ACCA'], body: UPPER | DIGIT, minBody: 16, maxBody: 16, boundary: ALNUM }),
  prefixRule({ id: 'github-token', category: 'github', prefixes: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], body: ALNUM, minBody: 30, boundary: B64URL }),
  prefixRule({ id: 'github-pat', category: 'github', prefixes: ['github_pat_'], body: B64URL, minBody: 22, boundary: B64URL }),
  prefixRule({ id: 'gitlab-token', category: 'gitlab', prefixes: ['glpat-', 'glrt-', 'gldt-', 'glptt-', 'glsoat-'], body: B64URL, minBody: 20 }),
  prefixRule({ id: 'slack-token', category: 'slack', prefixes: ['xoxb-', 'xoxa-', 'xoxp-', 'xoxo-', 'xoxr-', 'xoxs-', 'xoxe-', 'xapp-'], body: B64URL, minBody: 10 }),
  slackWebhook,
  prefixRule({ id: 'stripe-key', category: 'stripe', prefixes: ['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_', 'whsec_'], body: ALNUM, minBody: 16 }),
  prefixRule({ id: 'google-api-key', category: 'google', prefixes: ['AIza'], body: B64URL, minBody: 30, boundary: ALNUM }),
  prefixRule({ id: 'google-oauth', category: 'google', prefixes: ['GOCSPX-', 'ya29.'], body: B64URL, minBody: 20 }),
  prefixRule({ id: 'llm-key', category: 'llm_key', prefixes: ['sk-'], body: B64URL, minBody: 20, check: hasDigitAndUpper }),
  prefixRule({ id: 'vault-token', category: 'provider', prefixes: ['hvs.', 'hvb.', 'hvr.'], body: B64URL, minBody: 20 }),
  prefixRule({ id: 'npm-token', category: 'npm', prefixes: ['npm_'], body: ALNUM, minBody: 30 }),
  prefixRule({ id: 'huggingface-token', category: 'provider', prefixes: ['hf_'], body: ALNUM, minBody: 30 }),
  prefixRule({ id: 'pypi-token', category: 'provider', prefixes: ['pypi-AgE'], body: B64URL, minBody: 40 }),
  prefixRule({ id: 'digitalocean-token', category: 'provider', prefixes: ['dop_v1_', 'doo_v1_', 'dor_v1_'], body: ALNUM, minBody: 40 }),
  prefixRule({ id: 'shopify-token', category: 'provider', prefixes: ['shpat_', 'shpss_', 'shpca_', 'shppa_'], body: ALNUM, minBody: 32 }),
  sendgrid(),
];

/** SendGrid: SG.<22>.<43>, base64url. */
function sendgrid(): Rule {
  return {
    id: 'sendgrid-key',
    category: 'provider',
    triggers: ['SG.'],
    match(ctx, start, end) {
      const { text } = ctx;
      if (!text.startsWith('SG.', start)) return false;
      if (start > 0 && cls(text, start - 1) & B64URL) return false;
      const e = dottedParts(text, end, 2, 16);
      if (e < 0) return false;
      ctx.push(start, e, REDACTED, 'provider', 'sendgrid-key');
      return true;
    },
  };
}

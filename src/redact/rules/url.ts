/**
 * URLs with credentials (seed 004): `https://user:pass@host/…` → `https://user:[REDACTED]@host/…`. The
 * user and host stay (they help an operator); only the password goes. Works for any scheme
 * (postgres://, redis://:pass@, mongodb+srv://, amqp://, https://x-access-token:…@github.com).
 * A userinfo without a password is a user name (`ssh://git@`, `ftp://anonymous@`) or a token sent as one
 * (`https://<Azure DevOps PAT>@dev.azure.com/…`, `https://<token>@github.com/…`): it goes whole when it looks
 * random (entropy.ts), as config/display.ts takes any bare userinfo in the configuration.
 */
import { DEFAULT_ENTROPY, looksRandom } from '../entropy.js';
import { holdsNoSecret, markerAt } from '../markers.js';
import { REDACTED, type Rule, type ScanContext } from '../types.js';

/**
 * Characters that end a URL authority in running text. Not '#': an unencoded '#' in a password
 * (https://ci:Summer2025#@host) is common in logs, a '#' fragment right after a host is not.
 */
function endsAuthority(c: number): boolean {
  return (
    c === 47 /* / */ || c === 63 /* ? */ || c === 32 || c === 9 || c === 10 || c === 13 ||
    c === 34 || c === 39 || c === 96 || c === 60 || c === 62 || c === 92 /* \ */
  );
}

export const urlCredentials: Rule = {
  id: 'url-credentials',
  category: 'url_credentials',
  triggers: ['://'],
  match(ctx, _start, end) {
    const { text } = ctx;
    let at = -1;
    let colon = -1;
    let i = end;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (endsAuthority(c)) break;
      if (c === 64 /* @ */) at = i;
      else if (c === 58 /* : */ && colon < 0) colon = i;
    }
    // userinfo is before the last '@'; the password after its first ':'.
    if (at < 0) return false;
    if (colon < 0 || colon > at) return bareUserinfo(ctx, end, at, i);
    if (at - colon < 2) return false;
    // Only an earlier pass's marker or a mask stays: `:[Xk9…@` and `:${DB_PASS}@` are passwords like any other.
    if (markerAt(text, colon + 1, at) || (at - colon <= 65 && holdsNoSecret(text.slice(colon + 1, at)))) return false;
    ctx.push(colon + 1, at, REDACTED, 'url_credentials', 'url-credentials');
    return true;
  },
};

/**
 * `scheme://<token>@host`: the userinfo [from, at) goes whole when it looks like a credential, not a name. The
 * default entropy thresholds apply even with `entropy: false` (that setting is about secret-ish key names).
 */
function bareUserinfo(ctx: ScanContext, from: number, at: number, authorityEnd: number): boolean {
  const { text } = ctx;
  if (at - from < 8 || at + 1 >= authorityEnd) return false; // no host after the "@"
  const sample = text.slice(from, Math.min(at, from + 256));
  // An e-mail address as the user name (john.doe%40corp.com@host) is a name.
  if (sample.includes('%40') || sample.includes('@') || markerAt(text, from, at)) return false;
  if (!looksRandom(sample, ctx.options.entropy ?? DEFAULT_ENTROPY, at - from)) return false;
  ctx.push(from, at, REDACTED, 'url_credentials', 'url-credentials');
  return true;
}

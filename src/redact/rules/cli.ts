/**
 * Credentials on command lines (shell history, process listings, CI logs): `curl -u user:pass`,
 * `mysql -pSECRET`, `sshpass -p SECRET`, `docker login -p SECRET`. (`--password x` and `--token=x` are
 * the key/value rule's flag form.)
 */
import { startsAtFolded } from '../chars.js';
import { markerAt } from '../markers.js';
import { REDACTED, type Rule, type ScanContext } from '../types.js';

function wordEnd(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 34 || c === 39 || c === 96 || c === 59 || c === 124) break;
    i++;
  }
  return i;
}

/** Start of the value after a flag: skips one '=' or blanks, and an opening quote. */
function valueStart(text: string, i: number): number {
  if (text.charCodeAt(i) === 61) i++;
  else while (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9) i++;
  const q = text.charCodeAt(i);
  return q === 34 || q === 39 ? i + 1 : i;
}

/** `-u user:password`, `--user user:password`, `--proxy-user user:password`: the part after the colon. */
export const userColonPassword: Rule = {
  id: 'cli-user',
  category: 'cli_credentials',
  triggers: [' -u ', ' -u=', '--user ', '--user=', '--proxy-user ', '--proxy-user='],
  match(ctx, _start, end, index) {
    const { text } = ctx;
    const from = valueStart(text, text.charCodeAt(end - 1) === 61 ? end - 1 : end);
    // until[index]: the end of a word already found to hold no "user:password" (a later flag inside it would rescan it).
    if (from < ctx.floor || from < ctx.until[index]!) return false;
    const e = wordEnd(text, from);
    let colon = from;
    while (colon < e && text.charCodeAt(colon) !== 58) colon++;
    if (colon >= e - 1 || markerAt(text, colon + 1, e)) {
      ctx.until[index] = e;
      return false;
    }
    ctx.push(colon + 1, e, REDACTED, 'cli_credentials', 'cli-user');
    return true;
  },
};

/**
 * mysql/mariadb take the password glued to -p (`-pSECRET`; a lone `-p` prompts and the next word is the
 * database). sshpass and `docker login` take it as the next word. Looks on the rest of the line.
 */
export const passwordFlag: Rule = {
  id: 'cli-password-flag',
  category: 'cli_credentials',
  triggers: ['mysql', 'mariadb', 'sshpass', 'login '],
  match(ctx: ScanContext, start: number, end: number, index: number) {
    const { text } = ctx;
    if (end <= ctx.until[index]!) return false;
    const glued = startsAtFolded(text, start, 'mysql') || startsAtFolded(text, start, 'mariadb');
    let found = false;
    let i = end;
    // Every -p on the rest of the line (a command line may repeat it: mysql … -pX && mysqldump … -pY).
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) break;
      if (c !== 32 || text.charCodeAt(i + 1) !== 45 || text.charCodeAt(i + 2) !== 112 /* p */) continue;
      const next = text.charCodeAt(i + 3);
      let from = -1;
      if (glued && i + 3 < text.length && next !== 32 && next !== 9 && next !== 10 && next !== 45) from = i + 3;
      else if (!glued && (next === 32 || next === 61)) from = valueStart(text, i + 3);
      if (from < 0) continue;
      const e = wordEnd(text, from);
      // Not an option (-x) and not a [REDACTED] marker from an earlier pass.
      if (e > from && text.charCodeAt(from) !== 45 && !markerAt(text, from, e) && from >= ctx.floor) {
        ctx.push(from, e, REDACTED, 'cli_credentials', 'cli-password-flag');
        found = true;
        i = e - 1;
      }
    }
    ctx.until[index] = i;
    if (!found && !glued && text.slice(end, i).includes('--password-stdin')) return echoedSecret(ctx, start);
    return found;
  },
};

/** `echo "secret" | docker login … --password-stdin`: the echoed word before the pipe. */
const ECHOED = /(?:^|[\s;&(])(?:echo|printf)[ \t]+(?:-[neE]{1,3}[ \t]+)?(?:"([^"\\\n]{1,512})"|'([^'\n]{1,512})'|([^\s|;&'"]{1,512}))[ \t]*\|[^|\n]*$/;
function echoedSecret(ctx: ScanContext, start: number): boolean {
  const { text } = ctx;
  let ls = start;
  while (ls > ctx.floor && start - ls < 1024 && text.charCodeAt(ls - 1) !== 10) ls--;
  const m = ECHOED.exec(text.slice(ls, start));
  if (!m) return false;
  const value = m[1] ?? m[2] ?? m[3]!;
  // A variable the shell expands (not in single quotes), or already redacted.
  if ((value.startsWith('$') && m[2] === undefined) || markerAt(value, 0, value.length)) return false;
  const at = ls + m.index + m[0].lastIndexOf(value);
  ctx.push(at, at + value.length, REDACTED, 'cli_credentials', 'cli-password-stdin');
  return true;
}

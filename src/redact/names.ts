/**
 * Which key names carry secrets. Used by the free-text key/value rule ("password=…", "api_key: …",
 * "\"client_secret\": \"…\"") and by structured redaction ({ headers: { authorization: … } }).
 *
 * A name is split into words (snake_case, kebab-case, dotted and camelCase all work): MQTT_PASSWORD →
 * [mqtt, password], x-api-key → [x, api, key], awsSecretAccessKey → [aws, secret, access, key]. Its last
 * word(s) decide: "password_policy" and "tokenizer" are not secrets, "db_password" and "apiKey" are.
 *
 * The rule is the same at any length. A name of at most SHORT_NAME characters is split whole (the common case,
 * memoised by KeyClassifier); a longer one is read word by word from its end (classifyLongName), which gives the
 * same answer in time linear in the name's length, so a 10 000-character "x…x_password" is as secret as
 * "db_password" and a long name is never a way around redaction.
 */
export type KeyClass =
  /** The value is a secret whatever it looks like (password, token, api_key, client_secret …). */
  | 'strong'
  /** An Authorization-style header: keep the scheme ("Bearer"), redact the credentials. */
  | 'auth'
  /** Secret-ish (signature, session, code, key …): redact only a high-entropy value. */
  | 'weak';

/** Last word → class. */
const LAST_WORD: Record<string, KeyClass> = Object.assign(Object.create(null) as Record<string, KeyClass>, {
  password: 'strong',
  // Plurals hold the same secrets ({ passwords: [...] }, { secrets: { db: … } }). Not "tokens": LLM APIs count
  // tokens (max_tokens, total_tokens), and a token string under it is still caught by the text rules.
  passwords: 'strong',
  passphrases: 'strong',
  secrets: 'strong',
  cookies: 'strong',
  passwd: 'strong',
  passphrase: 'strong',
  pass: 'strong',
  pwd: 'strong',
  secret: 'strong',
  token: 'strong',
  apikey: 'strong',
  apikeys: 'strong',
  credentials: 'strong',
  credential: 'strong',
  creds: 'strong',
  cookie: 'strong',
  pin: 'strong',
  jsessionid: 'strong',
  phpsessid: 'strong',
  aspsessionid: 'strong',
  requirepass: 'strong',
  masterauth: 'strong',
  rpcpassword: 'strong',
  privatekey: 'strong',
  secretkey: 'strong',
  accesskey: 'strong',
  authkey: 'strong',
  authorization: 'auth',
  key: 'weak',
  sig: 'weak',
  signature: 'weak',
  hmac: 'weak',
  session: 'weak',
  sessionid: 'weak',
  sid: 'weak',
  code: 'weak',
  nonce: 'weak',
  salt: 'weak',
  otp: 'weak',
  ticket: 'weak',
  jwt: 'weak',
  auth: 'weak',
  assertion: 'weak',
  samlresponse: 'weak',
});

/** Last two words joined → class; checked before the last word alone (api_key is strong, cache_key weak). */
const LAST_TWO: Record<string, KeyClass> = Object.assign(Object.create(null) as Record<string, KeyClass>, {
  apikey: 'strong',
  apikeys: 'strong',
  privatekey: 'strong',
  privatekeys: 'strong',
  secretkey: 'strong',
  accesskey: 'strong',
  accesskeys: 'strong',
  signingkey: 'strong',
  signingkeys: 'strong',
  encryptionkey: 'strong',
  masterkey: 'strong',
  accountkey: 'strong',
  sharedkey: 'strong',
  hmackey: 'strong',
  authkey: 'strong',
  clientkey: 'strong',
  sessionkey: 'strong',
  basicauth: 'strong',
  httpauth: 'strong',
  proxyauth: 'strong',
  samlresponse: 'weak',
  sessionid: 'weak',
});

/**
 * Names that end in a secret word but are not credentials: pagination cursors and MCP progress tokens,
 * public and publishable keys, and the many kinds of "code" that are not one-time codes.
 */
const NOT_SECRET_LAST_TWO = new Set([
  'pagetoken', 'nexttoken', 'continuationtoken', 'progresstoken', 'publickey', 'publishablekey',
  'errorcode', 'statuscode', 'exitcode', 'countrycode', 'zipcode', 'postalcode', 'responsecode', 'returncode',
  'httpcode', 'languagecode', 'currencycode', 'sourcecode', 'qrcode', 'promocode', 'colorcode', 'reasoncode',
]);

/**
 * Words that qualify a secret name without changing what it holds: password_confirmation, SECRET_KEY_BASE,
 * x-hub-signature-256, api_key_2, token_b64. They are dropped from the end before the name is judged.
 */
const QUALIFIERS = new Set([
  'confirmation', 'confirm', 'again', 'repeat', 'retype', 'verify', 'verification', 'base', 'value', 'data', 'b64',
  'base64', 'hex', 'raw', 'plain', 'plaintext', 'cleartext', 'current', 'old', 'new', 'prev', 'previous', 'primary',
  'secondary', 'encoded', 'str', 'string', 'override', 'v1', 'v2',
]);

/** Names up to this length are split whole (and memoised); longer ones are read from their end. */
export const SHORT_NAME = 128;

/** Splits a key name into lowercase words. */
export function splitWords(name: string): string[] {
  const words: string[] = [];
  let cur = '';
  let prevLower = false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const isUpper = c >= 65 && c <= 90;
    const isLower = (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
    if (!isUpper && !isLower) {
      if (cur) words.push(cur);
      cur = '';
      prevLower = false;
      continue;
    }
    if (isUpper && prevLower && cur) {
      words.push(cur); // camelCase boundary: apiKey → api, key
      cur = '';
    }
    cur += isUpper ? String.fromCharCode(c + 32) : name[i];
    prevLower = isLower;
  }
  if (cur) words.push(cur);
  return words;
}

/** Classifies a key name by its words; `extra` are configured names (compared case-insensitively, whole name). */
export function classifyKeyName(name: string, extra?: ReadonlySet<string>): KeyClass | undefined {
  if (name.length === 0) return undefined;
  if (name.length > SHORT_NAME) return classifyLongName(name, extra);
  const lower = name.toLowerCase();
  if (extra && extra.has(lower.replace(/^-+/, ''))) return 'strong';
  const words = splitWords(name);
  while (words.length > 1 && (QUALIFIERS.has(words[words.length - 1]!) || /^\d+$/.test(words[words.length - 1]!))) words.pop();
  const n = words.length;
  if (n === 0) return undefined;
  const last = words[n - 1]!;
  if (n >= 2) {
    const two = words[n - 2]! + last;
    if (NOT_SECRET_LAST_TWO.has(two)) return undefined;
    const c = LAST_TWO[two];
    if (c) return c;
  }
  const c = LAST_WORD[last];
  if (c) return c;
  // Run-together names: "dbpassword", "xapikey", "clientsecret", "csrftoken", "setcookie".
  for (const suffix of RUN_TOGETHER) if (last.length > suffix.length && last.endsWith(suffix)) return 'strong';
  return undefined;
}

/** [a-z0-9] (what splitWords counts as lower case: a following capital starts a new word). */
function isLowerOrDigit(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
}

function isWordChar(c: number): boolean {
  return isLowerOrDigit(c) || (c >= 65 && c <= 90);
}

/**
 * The word of `name` that ends last before `end`, as [start, end), or undefined when there is none. The same
 * boundaries as splitWords: any character other than an ASCII letter or digit separates, and a capital after a
 * lower-case letter or digit starts a word. Reads only the separators before `end` and that word.
 */
function wordBefore(name: string, end: number): [number, number] | undefined {
  let e = end;
  while (e > 0 && !isWordChar(name.charCodeAt(e - 1))) e--;
  if (e === 0) return undefined;
  let s = e - 1;
  while (s > 0) {
    const p = name.charCodeAt(s - 1);
    if (!isWordChar(p)) break;
    const c = name.charCodeAt(s);
    if (c >= 65 && c <= 90 && isLowerOrDigit(p)) break; // camelCase boundary
    s--;
  }
  return [s, e];
}

/** Longer words are in none of the tables (LAST_WORD, LAST_TWO, QUALIFIERS): they are never lower-cased whole. */
const MAX_TABLE_WORD = 32;

function isDigits(name: string, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * classifyKeyName for a name longer than SHORT_NAME: the same answer, read from the end. Each character is looked at
 * a bounded number of times (the trailing qualifiers, the last two words, the separators between them), and only
 * the last MAX_TABLE_WORD characters of a word are ever copied: linear time, constant extra memory.
 */
export function classifyLongName(name: string, extra?: ReadonlySet<string>): KeyClass | undefined {
  // Configured names are compared whole; they are at most SHORT_NAME characters (text.ts), so only a name that is
  // leading dashes and one of them can match.
  if (extra && extra.size > 0) {
    let d = 0;
    while (d < name.length && name.charCodeAt(d) === 45) d++;
    if (name.length - d <= SHORT_NAME && extra.has(name.slice(d).toLowerCase())) return 'strong';
  }
  let last = wordBefore(name, name.length);
  if (!last) return undefined;
  // Trailing qualifiers and numbers go while another word is before them (password_confirmation, api_key_2).
  let before = wordBefore(name, last[0]);
  while (before) {
    const [s, e] = last;
    const qualifier = e - s <= MAX_TABLE_WORD && QUALIFIERS.has(name.slice(s, e).toLowerCase());
    if (!qualifier && !isDigits(name, s, e)) break;
    last = before;
    before = wordBefore(name, last[0]);
  }
  const [ls, le] = last;
  const lastLen = le - ls;
  const lastWord = lastLen <= MAX_TABLE_WORD ? name.slice(ls, le).toLowerCase() : undefined;
  if (before && lastWord !== undefined && before[1] - before[0] + lastLen <= MAX_TABLE_WORD) {
    const two = name.slice(before[0], before[1]).toLowerCase() + lastWord;
    if (NOT_SECRET_LAST_TWO.has(two)) return undefined;
    const c = LAST_TWO[two];
    if (c) return c;
  }
  if (lastWord !== undefined) {
    const c = LAST_WORD[lastWord];
    if (c) return c;
  }
  const tail = name.slice(Math.max(ls, le - MAX_TABLE_WORD), le).toLowerCase();
  for (const suffix of RUN_TOGETHER) if (lastLen > suffix.length && tail.endsWith(suffix)) return 'strong';
  return undefined;
}

const RUN_TOGETHER = ['password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'privatekey', 'secretkey', 'accesskey', 'cookie', 'credentials'];

/**
 * A bounded memo of classifications: key names repeat a lot in logs (a JSON logger writes the same dozen
 * keys on every line), so the word split runs once per distinct name.
 */
export class KeyClassifier {
  private readonly cache = new Map<string, KeyClass | null>();
  constructor(private readonly extra: ReadonlySet<string> = new Set()) {}

  classify(name: string): KeyClass | undefined {
    // A long name is classified each time: it is rare, linear to read, and a memo of it would hold megabytes.
    if (name.length > SHORT_NAME) return classifyLongName(name, this.extra);
    let c = this.cache.get(name);
    if (c === undefined) {
      c = classifyKeyName(name, this.extra) ?? null;
      if (this.cache.size >= 4096) this.cache.clear();
      this.cache.set(name, c);
    }
    return c ?? undefined;
  }
}

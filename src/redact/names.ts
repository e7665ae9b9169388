/**
 * Which key names carry secrets. Used by the free-text key/value rule ("password=…", "api_key: …",
 * "\"client_secret\": \"…\"") and by structured redaction ({ headers: { authorization: … } }).
 *
 * A name is split into words (snake_case, kebab-case, dotted and camelCase all work): MQTT_PASSWORD →
 * [mqtt, password], x-api-key → [x, api, key], awsSecretAccessKey → [aws, secret, access, key]. Its last
 * word(s) decide: "password_policy" and "tokenizer" are not secrets, "db_password" and "apiKey" are.
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

/** Splits a key name into lowercase words. Bounded: names longer than 128 characters are not names. */
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
  if (name.length === 0 || name.length > 128) return undefined;
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

const RUN_TOGETHER = ['password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'privatekey', 'secretkey', 'accesskey', 'cookie', 'credentials'];

/**
 * A bounded memo of classifications: key names repeat a lot in logs (a JSON logger writes the same dozen
 * keys on every line), so the word split runs once per distinct name.
 */
export class KeyClassifier {
  private readonly cache = new Map<string, KeyClass | null>();
  constructor(private readonly extra: ReadonlySet<string> = new Set()) {}

  classify(name: string): KeyClass | undefined {
    let c = this.cache.get(name);
    if (c === undefined) {
      c = classifyKeyName(name, this.extra) ?? null;
      if (this.cache.size >= 4096) this.cache.clear();
      this.cache.set(name, c);
    }
    return c ?? undefined;
  }
}

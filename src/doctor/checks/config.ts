/** The configuration file itself and the environment it names (seed 004 "Use environment variables for all sensitive configuration"). */
import { statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { readFileBounded } from '../../core/files.js';
import { parseSecretRef, type GatehouseConfig } from '../../config/index.js';
// The loader's own grammar: `$${` a literal `${`, `${NAME}` a reference, `${NAME:-default}` one with its default written here.
import { VAR_RE } from '../../config/interpolate.js';
import { upstreamAuthRefs } from './secrets.js';
import type { CheckDefinition, DoctorContext, Finding, Outcome } from '../types.js';
import { judgeMode, unreadableReason } from '../files.js';
import { fail, judged, skipped, warn } from '../outcome.js';

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Keys whose value is a credential (config/load.ts reads the same names from *_file siblings). */
const SECRET_KEYS = new Set(['secret', 'password', 'token', 'client_secret', 'api_key', 'previous_secrets']);
/** Maps whose every value is a credential under a name the operator chose (auth.header.headers, sink and alert headers). */
const SECRET_MAPS = new Set(['headers']);

/** Every `*_env` setting: the name of a variable the gateway reads a key or token from. */
function envSettings(cfg: GatehouseConfig): { path: string; name: string }[] {
  const out: { path: string; name: string }[] = [];
  const add = (path: string, name: string | undefined): void => {
    if (name !== undefined) out.push({ path, name });
  };
  add('audit.checkpoint.private_key_env', cfg.audit.checkpoint.private_key_env);
  add('audit.hmac_key_env', cfg.audit.hmac_key_env);
  add('audit.alerts.secret_env', cfg.audit.alerts.secret_env);
  add('encryption.key_env', cfg.encryption.key_env);
  add('encryption.kms.key_env', cfg.encryption.kms.key_env);
  for (const [name, ring] of Object.entries(cfg.encryption.keyrings)) add(`encryption.keyrings.${name}.key_env`, ring.key_env);
  cfg.auth.static.tokens.forEach((t, i) => add(`auth.static.tokens[${i}].token_env`, t.token_env));
  if (cfg.store.kind === 'postgres') add('store.postgres.password_env', cfg.store.postgres?.password_env);
  for (const { path, ref } of upstreamAuthRefs(cfg)) {
    const parsed = parseSecretRef(ref);
    if (typeof parsed !== 'string' && parsed.kind === 'env') add(path, parsed.name);
  }
  return out;
}

function envVars(ctx: DoctorContext): Outcome {
  const settings = envSettings(ctx.cfg);
  if (settings.length === 0) return skipped('no *_env setting names a variable');
  // Judged in the environment doctor runs in, which should be the gateway's (a systemd unit may set more).
  const missing = settings.filter((s) => (ctx.env[s.name] ?? '').trim() === '');
  return judged(
    missing.map((s) => warn(`${s.path} names ${s.name}, which is not set in this environment`)),
    `${settings.map((s) => s.name).join(', ')} set`,
  );
}

/** `\s` as the old URL pattern read it: whitespace ends an authority (a URL holds none). */
const SPACE = /\s/;

/**
 * Whether a URL writes a non-empty password into its userinfo (scheme://user:password@host). A parse, not a pattern:
 * the authority runs from "://" to the first "/", "?", "#" or whitespace, its userinfo to the authority's last "@"
 * (a raw "@" in a password is common), the password from the userinfo's first ":". Linear in the input.
 */
export function urlHasPassword(value: string): boolean {
  // RFC 3986 §3.1 scheme, 1 to 32 characters as config/display.ts reads it; a scheme holds no ":", so the first "://" is the only candidate.
  const sep = value.indexOf('://');
  if (sep < 1 || sep > 32 || !isSchemeChar(value.charCodeAt(0), true)) return false;
  for (let i = 1; i < sep; i++) if (!isSchemeChar(value.charCodeAt(i), false)) return false;
  const start = sep + 3;
  let end = start;
  while (end < value.length && !'/?#'.includes(value.charAt(end)) && !SPACE.test(value.charAt(end))) end++;
  const at = value.lastIndexOf('@', end - 1);
  if (at < start) return false;
  const colon = value.indexOf(':', start);
  return colon !== -1 && colon + 1 < at;
}

function isSchemeChar(c: number, first: boolean): boolean {
  const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  return first ? letter : letter || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
}

/** A string as the file itself writes it, with every variable unset. */
interface Written {
  /** The value interpolation gives with no variable set: references to nothing, defaults to themselves, `$${` to `${`. */
  text: string;
  /** How many `${NAME}` / `${NAME:-default}` references it holds. */
  references: number;
  /** Whether any reference carries a non-empty default: that default is text of the file, whatever the variable holds. */
  defaults: boolean;
}

function written(value: string): Written {
  let references = 0;
  let defaults = false;
  if (!value.includes('${')) return { text: value, references, defaults };
  const text = value.replace(VAR_RE, (match, name: string | undefined, def: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) return match; // malformed: the loader refuses the file
    references++;
    if (def) defaults = true;
    return def ?? '';
  });
  return { text, references, defaults };
}

/**
 * A credential written into the file: a literal, or a reference whose `:-` default is the credential
 * (`${TOKEN:-s3cret}` runs on s3cret wherever TOKEN is unset). `Bearer ${TOKEN}` takes its credential from the
 * environment; `$${` only escapes a literal `${`.
 */
function literalCredential(v: unknown): boolean {
  if (typeof v !== 'string' || v === '') return false;
  const w = written(v);
  return w.references === 0 ? w.text !== '' : w.defaults;
}

/**
 * URLs whose path or query may be the credential itself, as `config check` redacts them (config/display.ts
 * CAPABILITY_URLS: Slack /services/T…/B…/SECRET, Discord /api/webhooks/ID/TOKEN, ?sig= links). Paths with `[]`.
 */
const CAPABILITY_URLS = new Set(['approval.webhook.url', 'audit.alerts.webhook_url', 'audit.sinks[].url']);
/** A query parameter named as a credential: ?api_key=, ?token=, ?sig=, X-Amz-Signature=, ?code= (Azure Functions). */
const CREDENTIAL_PARAM = /key|token|secret|sig|pass|auth|credential|^code$/i;
/** A run of letters and digits this long, holding both, reads as a random token (a Slack or Teams hook's secret part). */
const TOKEN_RUN = 16;

/**
 * Whether a capability URL carries a credential in its path or query: a credential-named query parameter with a
 * value, or a path segment with a run of 16+ letters and digits mixing both. `/ingest` or `/hook` is no credential
 * (config check still hides every path: it can afford to). Linear.
 */
export function capabilityCredential(url: string): boolean {
  const sep = url.indexOf('://');
  if (sep === -1) return false;
  let i = sep + 3;
  while (i < url.length && !'/?#'.includes(url.charAt(i))) i++;
  const hash = url.indexOf('#', i);
  const rest = hash === -1 ? url.slice(i) : url.slice(i, hash);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && eq < pair.length - 1 && CREDENTIAL_PARAM.test(safeDecode(pair.slice(0, eq)))) return true;
  }
  return tokenLike(path);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A run of TOKEN_RUN or more ASCII letters and digits that holds at least one of each. */
function tokenLike(s: string): boolean {
  let run = 0;
  let letters = false;
  let digits = false;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0;
    const digit = c >= 48 && c <= 57;
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (digit || letter) {
      run++;
      digits ||= digit;
      letters ||= letter;
      continue;
    }
    if (run >= TOKEN_RUN && letters && digits) return true;
    run = 0;
    letters = digits = false;
  }
  return false;
}

/**
 * Paths of credentials written into the file as literals, not as ${VAR} references (URL passwords and capability URLs
 * included). Takes the file as parsed, before interpolation.
 */
export function inlineSecretPaths(value: unknown, path = '', inMap = false): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => (inMap && literalCredential(v) ? [`${path}[${i}]`] : inlineSecretPaths(v, `${path}[${i}]`)));
  if (typeof value === 'string') return inlineUrlCredential(value, path) ? [path] : [];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const here = path ? `${path}.${k}` : k;
    // routes[].upstream_auth holds references (secret:, env:, file:), never the credential itself.
    if (k === 'upstream_auth') return [];
    if (SECRET_MAPS.has(k) && v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).flatMap(([name, hv]) => (literalCredential(hv) ? [`${here}.${name}`] : []));
    // `token` is also the name of a section (auth.token): only a string or a list under these keys is a credential.
    if (SECRET_KEYS.has(k) && Array.isArray(v)) return inlineSecretPaths(v, here, true);
    if (SECRET_KEYS.has(k) && typeof v === 'string') return literalCredential(v) ? [here] : [];
    return inlineSecretPaths(v, here);
  });
}

/** A URL password, or a capability URL's credential, in the text the file writes (defaults included, references not). */
function inlineUrlCredential(value: string, path: string): boolean {
  const { text } = written(value);
  if (urlHasPassword(text)) return true;
  return CAPABILITY_URLS.has(path.replace(/\[\d+\]/g, '[]')) && capabilityCredential(text);
}

function configFile(ctx: DoctorContext): Outcome {
  const file = ctx.configFile;
  if (file === undefined) return skipped('no configuration file (the embedded default)');
  let text: string;
  try {
    text = readFileBounded(file, MAX_CONFIG_BYTES).toString('utf8');
  } catch (e) {
    return judged([fail(`the configuration file ${unreadableReason(e)}`)], '');
  }
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  const inline = doc.errors.length > 0 ? [] : inlineSecretPaths(doc.toJS({ maxAliasCount: 100 }));
  if (inline.length === 0) return judged([], 'no credential is written into the configuration file');
  // A file holding credentials is as private as a key file (seed 000: "proper file permissions for config files containing credentials").
  const mode: Finding | undefined = judgeMode('the configuration file', statSync(file));
  return judged(
    [warn(`credentials written into the configuration file at ${inline.join(', ')}: they end up in version control and backups`), mode && { status: mode.status, detail: `${mode.detail} and holds credentials` }],
    '',
  );
}

export const configChecks: CheckDefinition[] = [
  {
    id: 'config.inline_secrets',
    title: 'No credentials written into the configuration file',
    source: 'seed 004 production checklist ("Use environment variables for all sensitive configuration"); seed 003 §3 ("Never commit secrets"); seed 000 secure password handling',
    fix: 'Write ${VAR} references or *_file siblings (secret_file, token_file) instead of literal values, and chmod 600 a file that must hold them.',
    inspect: configFile,
  },
  {
    id: 'config.env_vars',
    title: 'Variables named by *_env settings are set',
    source: 'seed 003 §3 (secrets from the environment or a secrets manager)',
    fix: 'Set each named variable in the gateway\'s environment (systemd Environment=, a Kubernetes secret), or point the setting at a file.',
    inspect: envVars,
  },
];

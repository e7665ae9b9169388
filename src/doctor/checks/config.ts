/** The configuration file itself and the environment it names (seed 004 "Use environment variables for all sensitive configuration"). */
import { statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { readFileBounded } from '../../core/files.js';
import { parseSecretRef, type GatehouseConfig } from '../../config/index.js';
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

/** A URL with a password in its userinfo (scheme://user:password@host). */
const URL_PASSWORD = /^[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^/?#\s@]*:[^/?#\s]*@/;

/** Paths of credentials written into the file as literals, not as ${VAR} references (URL passwords included). */
export function inlineSecretPaths(value: unknown, path = '', inMap = false): string[] {
  const literal = (v: unknown): boolean => typeof v === 'string' && v !== '' && !v.includes('${');
  if (Array.isArray(value)) return value.flatMap((v, i) => (inMap && literal(v) ? [`${path}[${i}]`] : inlineSecretPaths(v, `${path}[${i}]`)));
  if (typeof value === 'string') return literal(value) && (inMap || URL_PASSWORD.test(value)) ? [path] : [];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const here = path ? `${path}.${k}` : k;
    // routes[].upstream_auth holds references (secret:, env:, file:), never the credential itself.
    if (k === 'upstream_auth') return [];
    if (SECRET_MAPS.has(k) && v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).flatMap(([name, hv]) => (literal(hv) ? [`${here}.${name}`] : []));
    // `token` is also the name of a section (auth.token): only a string or a list under these keys is a credential.
    if (SECRET_KEYS.has(k) && Array.isArray(v)) return inlineSecretPaths(v, here, true);
    if (SECRET_KEYS.has(k) && typeof v === 'string') return literal(v) ? [here] : [];
    return inlineSecretPaths(v, here);
  });
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

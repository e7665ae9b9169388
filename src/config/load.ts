import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './error.js';
import { describeYamlError } from './yaml-error.js';
import { interpolate, type InterpolationProblem } from './interpolate.js';
import { configSchema, type GatehouseConfig } from './schema/index.js';
import { describeExpected, keysAt, nearestKey, schemaAt } from './schema-walk.js';
import { productionProblems } from './profiles.js';
import { residencyProblems } from './schema/residency.js';
import { applyTracingEnv } from './schema/tracing.js';

export { ConfigError };

/** Bounded input: a config file larger than this is refused before parsing. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const MAX_SECRET_FILE_BYTES = 1024 * 1024;

/**
 * The embedded default: development profile, TLS with a generated dev CA on 127.0.0.1:8443, the demo echo and
 * MCP upstreams, token authentication with a secret generated into the state directory.
 */
export const EMBEDDED_DEFAULT: Readonly<Record<string, unknown>> = {
  demo: { enabled: true },
  routes: [
    { name: 'echo', prefix: '/echo', upstream: 'demo:echo', kind: 'http' },
    { name: 'mcp', prefix: '/mcp', upstream: 'demo:mcp', kind: 'mcp' },
  ],
  // The echo service answers any principal holding system:read (a `readonly` token has it).
  authz: {
    routes: [
      { name: 'demo-echo', path: '/echo', scopes: ['system:read'] },
      { name: 'demo-echo-any', path: '/echo/*', scopes: ['system:read'] },
    ],
  },
  // Critical tools wait in the built-in queue: approve with `gatehouse approvals approve ID`.
  approval: { mode: 'queue' },
};

export interface LoadOptions {
  /** YAML file; when absent the embedded default is used. */
  path?: string | undefined;
  /** Raw YAML text instead of a file (tests, `config check -`). */
  text?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Skip the configuration-level production refusals: callers that run the full set (with TLS and authentication,
   * doctor/refusals.ts, through gateway/production.ts) check afterwards so every problem is reported at once.
   */
  skipProfileCheck?: boolean;
}

export function resolveStateDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), configured?: string): string {
  const dir = configured ?? env['GATEHOUSE_HOME'] ?? '.gatehouse';
  return isAbsolute(dir) ? dir : resolve(cwd, dir);
}

/**
 * GATEHOUSE_ENV=production|development; ENV=production is honoured too (seed 003). Development by default.
 * Blank counts as unset and white space is ignored: a CRLF .env file or an empty pass-through variable must not
 * quietly switch the production refusals off.
 */
export function resolveProfile(env: NodeJS.ProcessEnv = process.env): 'development' | 'production' {
  // One pair of quotes around the value is dropped: `docker run --env-file` keeps GATEHOUSE_ENV="production" literally.
  const named = (name: string): string | undefined => env[name]?.trim().replace(/^(["'])(.*)\1$/s, '$2').trim().toLowerCase() || undefined;
  const own = named('GATEHOUSE_ENV');
  if (own !== undefined) {
    if (own === 'production' || own === 'prod') return 'production';
    if (own === 'development' || own === 'dev') return 'development';
    // A misspelt GATEHOUSE_ENV (producton, production-eu, live) falling back to development would silently turn every
    // production refusal off: refused instead. ENV is shared with other software (staging, test …) and only ever
    // selects production.
    throw new ConfigError([`GATEHOUSE_ENV: unknown profile ${JSON.stringify(own.slice(0, 32))} (expected production, prod, development or dev)`]);
  }
  const v = named('ENV');
  return v === 'production' || v === 'prod' ? 'production' : 'development';
}

/** The property name a YAML map key becomes in toJS: scalars by String(value) (null is ""), collections as YAML text. */
function objectKey(k: unknown): string {
  if (isScalar(k)) return k.value === null || k.value === undefined ? '' : String(k.value);
  if (isNode(k)) return String(k);
  return k === null || k === undefined ? '' : String(k);
}

function sameObjectKey(a: unknown, b: unknown): boolean {
  return a === b || objectKey(a) === objectKey(b);
}

function readYaml(text: string, source: string): unknown {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new ConfigError([`${source}: larger than ${MAX_CONFIG_BYTES} bytes`]);
  // uniqueKeys: a duplicated key is an error, not a silent override, compared as the object key it becomes (1 and "1",
  // true and "true", ~ and "" are one key after toJS). maxAliasCount bounds billion-laughs expansion.
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: sameObjectKey, prettyErrors: false, strict: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    // Code and position only: the parser's messages quote the source, and the line at fault may hold a secret.
    throw new ConfigError(doc.errors.map((e) => `${source}: ${describeYamlError(e, lines)}`));
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    // yaml throws a ReferenceError when aliases expand past the limit: still a problem with the file, not a crash.
    if (e instanceof ReferenceError) throw new ConfigError([`${source}: too many alias expansions (YAML anchors and aliases are limited)`]);
    throw e;
  }
}

/**
 * No config key is `__proto__`; zod would assign it into a record's output object and replace that object's
 * prototype (and drop the entry), so it is refused with its path before anything is built from it.
 */
function reservedKeys(value: unknown, problems: string[], path = ''): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => reservedKeys(v, problems, `${path}[${i}]`));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    const here = path ? `${path}.${k}` : k;
    if (k === '__proto__') problems.push(`${here}: reserved key`);
    else reservedKeys(v, problems, here);
  }
}

/** Resolves `*_file` (and `*_files`) fields: paths become absolute and must be readable; secret siblings are filled. */
function resolveFileFields(value: unknown, baseDir: string, problems: string[], path: (string | number)[] = []): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => resolveFileFields(v, baseDir, problems, [...path, i]));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  // Only fields the schema declares are files: a record key that merely ends in _file (a tool named read_file
  // under approval.tools) is a name, and its value is not a path.
  const declared = keysAt(configSchema, path);
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    const here = [...path, key];
    // routes[0].tls.ca_file, as every other config message writes a path.
    const name = here.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
    const isFileField = declared.includes(key);
    if (isFileField && key.endsWith('_file') && typeof v === 'string') {
      const abs = isAbsolute(v) ? v : resolve(baseDir, v);
      obj[key] = abs;
      const problem = unreadable(abs);
      if (problem) {
        problems.push(`${name}: file ${problem}`);
        continue;
      }
      const sibling = key.slice(0, -'_file'.length);
      if (obj[sibling] === undefined && declared.includes(sibling) && isSecretSibling(sibling)) {
        obj[sibling] = readFileSync(abs, 'utf8').trim();
      }
    } else if (isFileField && key.endsWith('_files') && Array.isArray(v)) {
      obj[key] = v.map((item, i) => {
        if (typeof item !== 'string') return item;
        const abs = isAbsolute(item) ? item : resolve(baseDir, item);
        const problem = unreadable(abs);
        if (problem) problems.push(`${name}[${i}]: file ${problem}`);
        return abs;
      });
    } else {
      resolveFileFields(v, baseDir, problems, here);
    }
  }
}

// Only content-bearing secrets are read into their sibling; cert_file/key_file stay paths (TLS reloads them).
const SECRET_SIBLINGS = new Set(['secret', 'password', 'token', 'client_secret', 'api_key', 'value']);
const isSecretSibling = (name: string): boolean => SECRET_SIBLINGS.has(name);

function unreadable(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (!st.isFile()) return 'is not a regular file';
    if (st.size > MAX_SECRET_FILE_BYTES * 16) return 'is too large';
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : 'cannot be read';
  }
}

function formatIssue(issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): string[] {
  const at = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    const valid = keysAt(configSchema, issue.path);
    return (issue.keys ?? []).map((k) => {
      const near = nearestKey(k, valid);
      const full = at === '(root)' ? k : `${at}.${k}`;
      return `${full}: unknown key${near ? ` (did you mean "${near}"?)` : valid.length ? ` (valid keys: ${valid.join(', ')})` : ''}`;
    });
  }
  if (issue.code === 'invalid_type') return [`${at}: expected ${describeExpected(schemaAt(configSchema, issue.path))}`];
  return [`${at}: ${issue.message}`];
}

/** The keys a section was written with (before the schema's defaults), so an environment default fills only what is unset. */
function writtenKeys(raw: unknown, section: string): ReadonlySet<string> {
  const value = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)[section] : undefined;
  return new Set(value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : []);
}

/** Validates a raw (already interpolated) object against the closed schema. */
export function validateConfig(raw: unknown, opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): GatehouseConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(result.error.issues.flatMap((i) => formatIssue(i as Parameters<typeof formatIssue>[0])));
  const env = opts.env ?? process.env;
  const cfg = result.data as GatehouseConfig;
  cfg.state_dir = resolveStateDir(env, opts.cwd, result.data.state_dir);
  cfg.profile = resolveProfile(env);
  if (cfg.store.kind === 'sqlite' && !cfg.store.path) cfg.store.path = resolve(cfg.state_dir, 'state.db');
  const residency = residencyProblems(cfg.residency, cfg.routes, cfg.authz.tenants);
  if (residency.length > 0) throw new ConfigError(residency);
  // OTEL_* defaults are resolved here, where the environment is known, so `config check` shows the effective endpoint
  // and the production refusals judge it; the supervisor hands workers the result.
  const tracingProblems = applyTracingEnv(cfg.tracing, env, writtenKeys(raw, 'tracing'));
  if (tracingProblems.length > 0) throw new ConfigError(tracingProblems);
  return cfg;
}

/** Loads, interpolates, resolves file fields, validates and applies the profile's refusals. */
export async function loadConfig(opts: LoadOptions = {}): Promise<GatehouseConfig> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  let raw: unknown;
  let baseDir = cwd;
  if (opts.text !== undefined) raw = readYaml(opts.text, 'config');
  else if (opts.path) {
    const abs = isAbsolute(opts.path) ? opts.path : resolve(cwd, opts.path);
    const problem = unreadable(abs);
    if (problem) throw new ConfigError([`config file ${opts.path}: ${problem}`], 'GH_CONFIG_FILE_UNREADABLE');
    raw = readYaml(readFileSync(abs, 'utf8'), opts.path);
    baseDir = dirname(abs);
  } else raw = structuredClone(EMBEDDED_DEFAULT);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(['(root): expected a mapping']);
  const reserved: string[] = [];
  reservedKeys(raw, reserved);
  if (reserved.length > 0) throw new ConfigError(reserved);

  const missing: InterpolationProblem[] = [];
  const interpolated = interpolate(raw, env, missing);
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map((m) =>
        m.variable === undefined
          ? `${m.path}: malformed \${...} reference (write \${NAME} or \${NAME:-default}, no nesting; $\${ for a literal \${)`
          : `${m.path}: environment variable ${m.variable} is not set (use \${${m.variable}:-default} for a default)`,
      ),
      missing.some((m) => m.variable !== undefined) ? 'GH_CONFIG_MISSING_VAR' : 'GH_CONFIG_INVALID',
    );
  }
  const fileProblems: string[] = [];
  resolveFileFields(interpolated, baseDir, fileProblems);
  if (fileProblems.length > 0) throw new ConfigError(fileProblems, 'GH_CONFIG_FILE_UNREADABLE');

  const cfg = validateConfig(interpolated, { env, cwd });
  if (cfg.profile === 'production' && !opts.skipProfileCheck) {
    const problems = productionProblems(cfg);
    if (problems.length > 0) throw new ConfigError(problems.map((p) => `production: ${p}`), 'GH_CONFIG_PRODUCTION_REFUSED');
  }
  return cfg;
}

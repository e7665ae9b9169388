/**
 * `${VAR}` and `${VAR:-default}` interpolation (seed 000: `password: ${PASSWORD_ENV_VAR}`), applied to every
 * string scalar of the parsed YAML. `$${` writes a literal `${`. A missing variable without a default is an
 * error naming the field: never an empty string. Any other `${` (`${A:-${B}}`, `${A-B}`, `${A:default}`) is an
 * error too: kept as literal text it would turn a typo into a secret anyone can read in the config.
 */
export interface InterpolationProblem {
  path: string;
  /** Unset variable; absent for a malformed reference. */
  variable?: string;
}

// A name, then optionally ":-" and a default holding neither "}" nor "${"; else a bare "${" (malformed). The default
// stops at the next "${", so scans from successive "${" never overlap: linear on any input.
export const VAR_RE = /\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]{0,127})(?::-((?:[^}$]|\$(?!\{))*))?\})?/g;

export function interpolateString(value: string, env: NodeJS.ProcessEnv, path: string, problems: InterpolationProblem[]): string {
  if (!value.includes('${')) return value;
  let malformed = false;
  const out = value.replace(VAR_RE, (match, name: string | undefined, def: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      malformed = true;
      return match;
    }
    // Own properties only: process.env inherits Object.prototype, and ${constructor} must be "not set", not a function.
    const v = Object.hasOwn(env, name) ? env[name] : undefined;
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    problems.push({ path, variable: name });
    return '';
  });
  if (malformed) problems.push({ path });
  return out;
}

/** Walks a parsed YAML value and interpolates every string; returns a new value. */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, problems: InterpolationProblem[], path = ''): unknown {
  if (typeof value === 'string') return interpolateString(value, env, path || '(root)', problems);
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, problems, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, problems, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}

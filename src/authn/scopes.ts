import { GatehouseError } from '../core/errors.js';
import { isTenantId } from '../core/ids.js';

/**
 * Names as they appear in tokens and principals. Scopes stay as written (bundles such as `readonly` are expanded by
 * authz); here they are only checked for shape: the same alphabet as the config schema's scope names.
 */
const SCOPE_RE = /^[A-Za-z0-9_.:*-]{1,128}$/;
const AGENT_RE = /^[A-Za-z0-9._@:+/=-]{1,128}$/;

/** Parses seed 001's `--scopes "container:read,container:write,network:read"` (commas and/or spaces). */
export function parseScopes(input: string | readonly string[]): string[] {
  const raw = typeof input === 'string' ? (input.length > 8192 ? null : input.split(/[,\s]+/)) : [...input];
  if (raw === null) throw new GatehouseError('GH_USAGE', 'Too many scopes.');
  const scopes = [...new Set(raw.map((s) => s.trim()).filter((s) => s.length > 0))];
  if (scopes.length === 0) throw new GatehouseError('GH_USAGE', 'At least one scope is required (e.g. --scopes readonly).');
  if (scopes.length > 256) throw new GatehouseError('GH_USAGE', 'Too many scopes (at most 256).');
  for (const s of scopes) if (!SCOPE_RE.test(s)) throw new GatehouseError('GH_USAGE', `Invalid scope "${s.slice(0, 64)}": letters, digits and _.:*- only.`);
  return scopes;
}

export function validateAgent(agent: string): void {
  if (typeof agent !== 'string' || !AGENT_RE.test(agent)) throw new GatehouseError('GH_USAGE', 'An agent name is letters, digits and ._@:+/=- (at most 128).');
}

export function validateTenant(tenant: string): void {
  if (!isTenantId(tenant)) throw new GatehouseError('GH_USAGE', 'A tenant is letters, digits and ._:- (at most 128).');
}

/** Scopes from a JWT claim: a space-separated string (RFC 8693 `scope`) or an array of strings (`scp`). Bounded. */
export function scopesFromClaim(value: unknown): string[] | undefined {
  let list: unknown[];
  if (typeof value === 'string') list = value.length > 8192 ? [] : value.split(' ');
  else if (Array.isArray(value)) list = value.slice(0, 256);
  else return undefined;
  const out: string[] = [];
  for (const s of list) if (typeof s === 'string' && SCOPE_RE.test(s) && !out.includes(s)) out.push(s);
  return out.slice(0, 256);
}

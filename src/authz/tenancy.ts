/**
 * Tenant isolation (seed 002 "Multi-Tenancy Model"): unknown tenants are rejected, and a principal bound to a
 * tenant never reaches another tenant's resources, whatever its scopes, unless it holds an explicit
 * cross-tenant admin grant: the literal scope `tenant:<id>:admin` or `tenant:*:admin` (never implied through
 * the scope hierarchy, so `admin` alone does not cross tenants), or an `authz.cross_tenant_grants` entry.
 */
import type { Principal } from '../core/types.js';

export interface CrossTenantGrant {
  principal: string;
  tenants: readonly string[];
  /** Only principals authenticated by this method (authz.cross_tenant_grants[].method). */
  method?: string | undefined;
  /** Only JWT principals from this issuer. */
  issuer?: string | undefined;
}

interface GrantEntry {
  all: boolean;
  tenants: ReadonlySet<string>;
  source: string;
  method: string | undefined;
  issuer: string | undefined;
}

/** Whether a grant narrowed to a credential kind (method, JWT issuer) applies to this principal. */
function realmMatches(g: GrantEntry, p: Principal): boolean {
  if (g.issuer !== undefined && (p.method !== 'jwt' || p.attributes['issuer'] !== g.issuer)) return false;
  return g.method === undefined || p.method === g.method;
}

export const CROSS_TENANT_ALL_SCOPE = 'tenant:*:admin';
export const tenantAdminScope = (tenant: string): string => `tenant:${tenant}:admin`;

export class Tenancy {
  readonly #known: ReadonlySet<string>;
  /** principal id → the grants (tenants or '*', each maybe narrowed to a method or issuer) configured for it. */
  readonly #grants = new Map<string, GrantEntry[]>();

  constructor(known: Iterable<string>, grants: readonly CrossTenantGrant[]) {
    this.#known = new Set(known);
    grants.forEach((g, i) => {
      const tenants = new Set(g.tenants);
      const entry: GrantEntry = { all: tenants.has('*'), tenants, source: `authz.cross_tenant_grants[${i}]`, method: g.method, issuer: g.issuer };
      const list = this.#grants.get(g.principal);
      if (list) list.push(entry);
      else this.#grants.set(g.principal, [entry]);
    });
  }

  isKnown(tenant: string): boolean {
    return this.#known.has(tenant);
  }
  known(): string[] {
    return [...this.#known];
  }

  /** The grant that makes `principal` an admin of `tenant` (a scope name or a config path), if any. */
  adminGrant(principal: Principal, tenant: string): string | undefined {
    const scopes = principal.scopes;
    for (let i = 0; i < scopes.length; i++) {
      const s = scopes[i] as string;
      if (s === CROSS_TENANT_ALL_SCOPE) return s;
      if (s.length === tenant.length + 13 && s.startsWith('tenant:') && s.endsWith(':admin') && s.slice(7, -6) === tenant) return s;
    }
    const list = this.#grants.get(principal.id);
    if (list) for (const g of list) if ((g.all || g.tenants.has(tenant)) && realmMatches(g, principal)) return g.source;
    return undefined;
  }
}

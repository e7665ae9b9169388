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
}

export const CROSS_TENANT_ALL_SCOPE = 'tenant:*:admin';
export const tenantAdminScope = (tenant: string): string => `tenant:${tenant}:admin`;

export class Tenancy {
  readonly #known: ReadonlySet<string>;
  /** principal id → tenants (or '*') it administers by configuration. */
  readonly #grants = new Map<string, { all: boolean; tenants: ReadonlySet<string>; source: string }>();

  constructor(known: Iterable<string>, grants: readonly CrossTenantGrant[]) {
    this.#known = new Set(known);
    grants.forEach((g, i) => {
      const prev = this.#grants.get(g.principal);
      const tenants = new Set([...(prev?.tenants ?? []), ...g.tenants]);
      this.#grants.set(g.principal, { all: tenants.has('*'), tenants, source: prev?.source ?? `authz.cross_tenant_grants[${i}]` });
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
    const g = this.#grants.get(principal.id);
    if (g && (g.all || g.tenants.has(tenant))) return g.source;
    return undefined;
  }
}

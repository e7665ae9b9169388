/**
 * RBAC over seed 002's ACLs, indexed tenant → namespace → principal → resource so a decision is at most
 * 2 × 2 × 3 map lookups whatever the rule count (exact namespace then `*`; exact principal then `*`;
 * exact resource, then `type:*`, then `*`). A tenant's rules never grant anything in another tenant.
 */
import { ACL_PERMISSIONS } from '../config/schema/authz.js';
import type { AclPermission, AclRule } from './acl.js';

const BIT: Readonly<Record<AclPermission, number>> = Object.freeze({ publish: 1, subscribe: 2, cache_read: 4, cache_write: 8, admin: 16 });
const INDEX: Readonly<Record<AclPermission, number>> = Object.freeze({ publish: 0, subscribe: 1, cache_read: 2, cache_write: 3, admin: 4 });

export function isPermission(p: string): p is AclPermission {
  return (ACL_PERMISSIONS as readonly string[]).includes(p);
}

interface Grant {
  mask: number;
  /** Per permission: the first rule that granted it. */
  rules: Array<string | undefined>;
}

type ResourceMap = Map<string, Grant>;
type PrincipalMap = Map<string, ResourceMap>;
type NamespaceMap = Map<string, PrincipalMap>;

export interface RbacMatch {
  rule: string;
}

function getOrCreate<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

export class RbacIndex {
  readonly #tenants = new Map<string, NamespaceMap>();
  readonly ruleCount: number;

  constructor(rules: readonly AclRule[]) {
    for (const r of rules) {
      const ns = getOrCreate(this.#tenants, r.tenant, () => new Map() as NamespaceMap);
      const principals = getOrCreate(ns, r.namespace, () => new Map() as PrincipalMap);
      const resources = getOrCreate(principals, r.principal, () => new Map() as ResourceMap);
      const grant = getOrCreate(resources, r.resource, () => ({ mask: 0, rules: [undefined, undefined, undefined, undefined, undefined] }) as Grant);
      for (const p of r.permissions) {
        grant.mask |= BIT[p];
        grant.rules[INDEX[p]] ??= r.source;
      }
    }
    this.ruleCount = rules.length;
  }

  /** Tenants named by at least one ACL document. */
  tenants(): string[] {
    return [...this.#tenants.keys()];
  }

  /**
   * The rule granting `permission` on `resource` (`type:name`) to `principal` in tenant/namespace, or undefined.
   * An `admin` grant does not imply the data permissions: seed 002 lists admin separately.
   */
  find(tenant: string, namespace: string, principal: string, resource: string, permission: AclPermission): string | undefined {
    const ns = this.#tenants.get(tenant);
    if (ns === undefined) return undefined;
    const bit = BIT[permission];
    const idx = INDEX[permission];
    const colon = resource.indexOf(':');
    const typeWildcard = colon > 0 ? resource.slice(0, colon + 1) + '*' : undefined;
    for (let n = 0; n < 2; n++) {
      const principals = ns.get(n === 0 ? namespace : '*');
      if (principals === undefined) continue;
      for (let p = 0; p < 2; p++) {
        const resources = principals.get(p === 0 ? principal : '*');
        if (resources === undefined) continue;
        let g = resources.get(resource);
        if (g !== undefined && (g.mask & bit) !== 0) return g.rules[idx];
        if (typeWildcard !== undefined) {
          g = resources.get(typeWildcard);
          if (g !== undefined && (g.mask & bit) !== 0) return g.rules[idx];
        }
        g = resources.get('*');
        if (g !== undefined && (g.mask & bit) !== 0) return g.rules[idx];
      }
    }
    return undefined;
  }
}

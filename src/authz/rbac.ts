/**
 * RBAC over seed 002's ACLs, indexed tenant → namespace → principal → resource so a decision is at most
 * 2 × 2 × 3 map lookups whatever the rule count (exact namespace then `*`; exact principal then `*`;
 * exact resource, then `type:*`, then `*`). A tenant's rules never grant anything in another tenant.
 * A rule narrowed to a method (and a JWT issuer) lives in a second index keyed by method, issuer and id: a principal
 * looks up its plain id in the first and, when narrowed rules exist, its own method's and issuer's keys in the second —
 * never another kind's. Two indexes, so no id (a JWT `sub` may hold any character) can spell another index's key.
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

/** A narrowed rule's key: the method is one of AUTH_METHODS and the issuer comes from the configuration, so only the id varies. */
const realmKey = (method: string, issuer: string, id: string): string => `${method}\u0000${issuer}\u0000${id}`;

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
  /** Rules narrowed to a method or issuer, keyed by realmKey. */
  readonly #narrowed = new Map<string, NamespaceMap>();
  readonly ruleCount: number;

  constructor(rules: readonly AclRule[]) {
    for (const r of rules) {
      const ns = getOrCreate(r.method === undefined ? this.#tenants : this.#narrowed, r.tenant, () => new Map() as NamespaceMap);
      const principals = getOrCreate(ns, r.namespace, () => new Map() as PrincipalMap);
      const key = r.method === undefined ? r.principal : realmKey(r.method, r.issuer ?? '', r.principal);
      const resources = getOrCreate(principals, key, () => new Map() as ResourceMap);
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
    return [...new Set([...this.#tenants.keys(), ...this.#narrowed.keys()])];
  }

  /**
   * The rule granting `permission` on `resource` (`type:name`) to `principal` in tenant/namespace, or undefined.
   * An `admin` grant does not imply the data permissions: seed 002 lists admin separately. `method` and `issuer` are
   * the principal's own (rules narrowed to another kind never match).
   */
  find(tenant: string, namespace: string, principal: string, resource: string, permission: AclPermission, method?: string, issuer?: string): string | undefined {
    const anyone = principal === '*' ? undefined : '*';
    const plain = lookup(this.#tenants.get(tenant), namespace, principal, anyone, resource, permission);
    if (plain !== undefined || method === undefined) return plain;
    const narrowed = this.#narrowed.get(tenant);
    if (narrowed === undefined) return undefined;
    const iss = method === 'jwt' && issuer !== undefined ? issuer : undefined;
    for (const who of anyone === undefined ? ANY : [principal, anyone]) {
      const rule = lookup(narrowed, namespace, realmKey(method, '', who), iss === undefined ? undefined : realmKey('jwt', iss, who), resource, permission);
      if (rule !== undefined) return rule;
    }
    return undefined;
  }
}

const ANY = ['*'];

/** Exact namespace then `*`; principal key `a` then `b`; exact resource, then `type:*`, then `*`. */
function lookup(ns: NamespaceMap | undefined, namespace: string, a: string, b: string | undefined, resource: string, permission: AclPermission): string | undefined {
  if (ns === undefined) return undefined;
  const bit = BIT[permission];
  const idx = INDEX[permission];
  const colon = resource.indexOf(':');
  const typeWildcard = colon > 0 ? resource.slice(0, colon + 1) + '*' : undefined;
  for (let n = 0; n < 2; n++) {
    const principals = ns.get(n === 0 ? namespace : '*');
    if (principals === undefined) continue;
    for (let p = 0; p < 2; p++) {
      const key = p === 0 ? a : b;
      if (key === undefined) continue;
      const resources = principals.get(key);
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

/** The issuer a JWT principal was verified against (authn puts it in attributes), else undefined. */
export function principalIssuer(p: { method: string; attributes: Record<string, unknown> }): string | undefined {
  const iss = p.method === 'jwt' ? p.attributes['issuer'] : undefined;
  return typeof iss === 'string' ? iss : undefined;
}

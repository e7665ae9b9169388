/**
 * Scope hierarchy (seed 001 "Scope-Based Authorization"): a scope includes its children, transitively;
 * a bundle (readonly) stands for a set of scopes. Closures are computed once at load so a check is a
 * single map lookup, and every check names the granted scope that satisfied it ("scopes used").
 */
import { GatehouseError } from '../core/errors.js';
import { nullObject } from '../core/safe.js';

export interface ScopeHierarchyInput {
  /** scope → parent scope(s) (null for a root). */
  hierarchy: Readonly<Record<string, string | readonly string[] | null>>;
  bundles: Readonly<Record<string, readonly string[]>>;
}

/** A principal's granted scopes, expanded: effective scope → the granted scope that implies it. */
export interface ExpandedScopes {
  readonly granted: readonly string[];
  /** Prototype-free; exact grants win, then the narrowest implying grant (least privilege in "scopes used"). */
  readonly via: Readonly<Record<string, string>>;
}

export interface ScopeCheck {
  ok: boolean;
  /** The first required scope that is missing. */
  missing?: string;
  /** For each satisfied requirement, the granted scope that satisfied it (deduplicated). */
  used: string[];
}

function configError(path: string, message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `${path}: ${message}`);
}

const EXPANSION_CACHE_MAX = 4096;

export class ScopeRegistry {
  /** scope or bundle → every scope it implies, itself included (for scopes). */
  readonly #closure: Record<string, readonly string[]> = nullObject();
  readonly #scopes = new Set<string>();
  readonly #bundles = new Set<string>();
  readonly #cache = new Map<string, ExpandedScopes>();
  readonly #byArray = new WeakMap<readonly string[], ExpandedScopes>();

  constructor(input: ScopeHierarchyInput, path = 'authz.scopes') {
    const children: Record<string, string[]> = nullObject();
    for (const name of Object.keys(input.hierarchy)) {
      this.#scopes.add(name);
      children[name] = [];
    }
    for (const [name, raw] of Object.entries(input.hierarchy)) {
      const parents = raw === null ? [] : typeof raw === 'string' ? [raw] : raw;
      for (const parent of parents) {
        if (!this.#scopes.has(parent)) throw configError(`${path}.hierarchy.${name}`, `unknown parent scope "${parent}"`);
        if (parent === name) throw configError(`${path}.hierarchy.${name}`, 'a scope cannot be its own parent');
        (children[parent] as string[]).push(name);
      }
    }
    this.#detectCycle(children, path);
    for (const name of this.#scopes) this.#closure[name] = this.#descendants(name, children);
    for (const [bundle, members] of Object.entries(input.bundles)) {
      if (this.#scopes.has(bundle)) throw configError(`${path}.bundles.${bundle}`, 'a bundle cannot have the name of a scope');
      const all = new Set<string>();
      for (const member of members) {
        const c = this.#closure[member];
        if (!c) throw configError(`${path}.bundles.${bundle}`, `unknown scope "${member}"`);
        for (const s of c) all.add(s);
      }
      this.#bundles.add(bundle);
      this.#closure[bundle] = [...all];
    }
  }

  #detectCycle(children: Record<string, string[]>, path: string): void {
    // Iterative three-colour DFS: deep hierarchies cannot overflow the stack.
    const state: Record<string, 1 | 2> = nullObject();
    for (const root of this.#scopes) {
      if (state[root]) continue;
      const stack: Array<[string, number]> = [[root, 0]];
      state[root] = 1;
      while (stack.length > 0) {
        const top = stack[stack.length - 1] as [string, number];
        const kids = children[top[0]] as string[];
        if (top[1] >= kids.length) {
          state[top[0]] = 2;
          stack.pop();
          continue;
        }
        const next = kids[top[1]++] as string;
        if (state[next] === 1) throw configError(`${path}.hierarchy.${next}`, `cycle through "${next}" and "${top[0]}"`);
        if (!state[next]) {
          state[next] = 1;
          stack.push([next, 0]);
        }
      }
    }
  }

  #descendants(name: string, children: Record<string, string[]>): string[] {
    const seen = new Set<string>([name]);
    const queue = [name];
    while (queue.length > 0) {
      for (const child of children[queue.pop() as string] as string[]) {
        if (!seen.has(child)) {
          seen.add(child);
          queue.push(child);
        }
      }
    }
    return [...seen];
  }

  /** True for a declared scope (not a bundle). */
  isScope(name: string): boolean {
    return this.#scopes.has(name);
  }
  isBundle(name: string): boolean {
    return this.#bundles.has(name);
  }
  /** Scopes plus bundles: the names a token may carry meaningfully. */
  names(): string[] {
    return [...this.#scopes, ...this.#bundles];
  }
  /** Every scope `name` implies (itself included); empty for an unknown name. */
  closureOf(name: string): readonly string[] {
    return this.#closure[name] ?? [];
  }

  /** Expands granted scopes once; cached by array identity and by content (bounded). Unknown grants imply only themselves. */
  expand(granted: readonly string[]): ExpandedScopes {
    const hit = this.#byArray.get(granted);
    if (hit) return hit;
    const key = granted.join('\n');
    let exp = this.#cache.get(key);
    if (!exp) {
      exp = this.#compute(granted);
      if (this.#cache.size >= EXPANSION_CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(key, exp);
    }
    this.#byArray.set(granted, exp);
    return exp;
  }

  #compute(granted: readonly string[]): ExpandedScopes {
    const via: Record<string, string> = nullObject();
    for (const g of granted) if (typeof g === 'string' && !(g in via)) via[g] = g;
    // The narrowest grant is named first (least privilege in "scopes used"): readonly before admin.
    const byNarrowness = granted.filter((g) => this.#closure[g] !== undefined).sort((a, b) => this.closureOf(a).length - this.closureOf(b).length);
    for (const g of byNarrowness) for (const s of this.#closure[g] as readonly string[]) if (!(s in via)) via[s] = g;
    return Object.freeze({ granted: Object.freeze([...granted]), via });
  }

  /** O(1) per requirement: all of `required` must be satisfied. */
  check(expanded: ExpandedScopes, required: readonly string[]): ScopeCheck {
    const used: string[] = [];
    for (const r of required) {
      const g = expanded.via[r];
      if (g === undefined) return { ok: false, missing: r, used };
      if (!used.includes(g)) used.push(g);
    }
    return { ok: true, used };
  }

  /** Whether a single scope is held; returns the granted scope that satisfies it, or undefined. */
  satisfiedBy(expanded: ExpandedScopes, required: string): string | undefined {
    return expanded.via[required];
  }
}

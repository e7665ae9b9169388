/**
 * Field paths for structured redaction, in pino's redact syntax: `a.b`, `a.*.c`, `a[*].b`, `a[0]`,
 * `headers["x-session"]`. Compiled to a trie walked alongside the object, so the cost per key is a
 * map lookup per active path.
 */
export interface FieldNode {
  readonly children: Map<string, FieldNode>;
  star: FieldNode | undefined;
  terminal: boolean;
}

const node = (): FieldNode => ({ children: new Map(), star: undefined, terminal: false });

/** Splits `a.b["c-d"][*]` into segments; throws TypeError on anything else. */
export function parseFieldPath(path: string): string[] {
  if (typeof path !== 'string' || path.length === 0 || path.length > 256) throw new TypeError('a field path is a non-empty string of at most 256 characters');
  const out: string[] = [];
  let i = 0;
  while (i < path.length) {
    if (path[i] === '[') {
      const m = /^\[(\*|\d+|"([^"\\\]]+)"|'([^'\\\]]+)')\]/.exec(path.slice(i));
      if (!m) throw new TypeError(`invalid field path "${path}"`);
      out.push(m[2] ?? m[3] ?? m[1]!);
      i += m[0].length;
    } else {
      if (out.length > 0) {
        if (path[i] !== '.') throw new TypeError(`invalid field path "${path}"`);
        i++;
      }
      const m = /^(\*|[A-Za-z0-9_$-]+)/.exec(path.slice(i));
      if (!m) throw new TypeError(`invalid field path "${path}"`);
      out.push(m[1]!);
      i += m[0].length;
    }
  }
  return out;
}

export function compileFields(paths: readonly string[]): FieldNode | undefined {
  if (paths.length === 0) return undefined;
  const root = node();
  for (const p of paths) {
    let n = root;
    for (const seg of parseFieldPath(p)) {
      if (seg === '*') n = n.star ??= node();
      else {
        let c = n.children.get(seg);
        if (!c) n.children.set(seg, (c = node()));
        n = c;
      }
    }
    n.terminal = true;
  }
  return root;
}

const NONE: readonly FieldNode[] = [];

/** The trie nodes reached by key `k` from `active`. */
export function stepFields(active: readonly FieldNode[], k: string): readonly FieldNode[] {
  if (active.length === 0) return NONE;
  let out: FieldNode[] | undefined;
  for (const n of active) {
    const c = n.children.get(k);
    if (c) (out ??= []).push(c);
    if (n.star) (out ??= []).push(n.star);
  }
  return out ?? NONE;
}

export const isTerminal = (nodes: readonly FieldNode[]): boolean => nodes.some((n) => n.terminal);
export const NO_FIELDS = NONE;

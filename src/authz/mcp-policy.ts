/**
 * Which MCP JSON-RPC methods pass, and what resources/read and prompts/get require.
 * Fail closed: a method not listed here (or in authz.mcp.extra_methods) is refused.
 */
import type { AuthzConfig } from '../config/schema/authz.js';
import { GatehouseError } from '../core/errors.js';
import { nullObject } from '../core/safe.js';
import type { ScopeRegistry } from './scopes.js';

/** Protocol plumbing that carries no tool, resource or prompt access by itself (lists are filtered). */
export const MCP_PROTOCOL_METHODS: readonly string[] = [
  'initialize',
  'ping',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'prompts/list',
  'logging/setLevel',
];
/** Methods whose response the gateway filters to what the caller may use. */
export const MCP_FILTERED_LISTS: readonly string[] = ['tools/list', 'prompts/list', 'resources/list'];
export const MCP_RESOURCE_METHODS: readonly string[] = ['resources/read', 'resources/subscribe', 'resources/unsubscribe'];

function configError(path: string, message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `${path}: ${message}`);
}

export class McpMethodPolicy {
  readonly #plain = new Set<string>(MCP_PROTOCOL_METHODS);
  readonly #resources: ReadonlyArray<{ prefix: string; scopes: readonly string[]; rule: string }>;
  readonly #prompts: Record<string, { scopes: readonly string[]; rule: string }> = nullObject();
  readonly maxBatch: number;

  constructor(cfg: AuthzConfig['mcp'], scopes: ScopeRegistry) {
    for (const m of cfg.extra_methods) {
      if (m === 'tools/call' || m === 'prompts/get' || MCP_RESOURCE_METHODS.includes(m)) {
        throw configError('authz.mcp.extra_methods', `"${m}" is governed by the tool, prompt or resource policy and cannot be waved through`);
      }
      this.#plain.add(m);
    }
    const checkScopes = (list: readonly string[], where: string): void => {
      for (const s of list) if (!scopes.isScope(s)) throw configError(where, `unknown scope "${s}"`);
    };
    this.#resources = cfg.resources.map((r, i) => {
      checkScopes(r.scopes, `authz.mcp.resources[${i}].scopes`);
      return { prefix: r.uri_prefix, scopes: r.scopes, rule: `mcp.resources[${i}]` };
    });
    for (const [name, p] of Object.entries(cfg.prompts)) {
      checkScopes(p.scopes, `authz.mcp.prompts.${name}.scopes`);
      this.#prompts[name] = { scopes: p.scopes, rule: `prompt:${name}` };
    }
    this.maxBatch = cfg.max_batch;
  }

  /** A method that passes without further checks: protocol plumbing, notifications and configured extras. */
  isPlain(method: string): boolean {
    return this.#plain.has(method) || method.startsWith('notifications/');
  }

  /**
   * The first configured prefix covering `uri`, as written and as the upstream will read it: the MCP SDK looks a
   * resource up by `new URL(uri).toString()`, which resolves `..` (raw or %2e), turns backslashes into slashes and
   * drops tabs and newlines. Both forms must fall under the same entry, or a URI under a weak prefix could name a
   * resource a stronger entry protects. Userinfo is refused: `https://docs.example.com@internal/` starts with the
   * prefix `https://docs.example.com` but its host is `internal`.
   */
  resource(uri: string): { scopes: readonly string[]; rule: string } | undefined {
    const entry = this.#firstPrefix(uri);
    if (entry === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return entry; // not a URL: the SDK refuses it too, and nothing normalises it into another resource
    }
    if (url.username !== '' || url.password !== '') return undefined;
    return url.href === uri || this.#firstPrefix(url.href) === entry ? entry : undefined;
  }

  #firstPrefix(uri: string): { scopes: readonly string[]; rule: string } | undefined {
    for (const r of this.#resources) if (uri.startsWith(r.prefix)) return r;
    return undefined;
  }

  prompt(name: string): { scopes: readonly string[]; rule: string } | undefined {
    return this.#prompts[name];
  }
}

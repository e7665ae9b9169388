/**
 * Tool registry (seed 001 "Tool Risk Levels"): tool → required scopes, risk level, requires_approval and
 * argument constraints. Validated at load: an unknown scope, a constraint on the wrong type or an invalid
 * CIDR is a config error, never a silent deny-all. An unknown tool is denied.
 */
import type { ArgumentSpecConfig, AuthzConfig, ToolPolicyConfig } from '../config/schema/authz.js';
import { GatehouseError } from '../core/errors.js';
import { nullObject } from '../core/safe.js';
import type { RiskLevel } from '../core/types.js';
import { checkPath, normalizePrefix } from './path-policy.js';
import type { ScopeRegistry } from './scopes.js';
import { checkUrl, compileUrlConstraint, type CompiledUrlConstraint, type HostResolver } from './url-policy.js';

/** Seed 001's tools as the demo MCP server exposes them; the default registry. */
export const SEED001_TOOLS: Readonly<Record<string, ToolPolicyConfig>> = Object.freeze({
  get_system_status: { description: 'View system metrics', scopes: ['system:read'], risk_level: 'low', requires_approval: false, arguments: {} },
  list_containers: {
    description: 'List containers',
    scopes: ['container:read'],
    risk_level: 'low',
    requires_approval: false,
    arguments: { all: { type: 'boolean', required: false } },
  },
  ping_host: {
    description: 'Ping a host',
    scopes: ['network:diag'],
    risk_level: 'moderate',
    requires_approval: false,
    arguments: { host: { type: 'string', required: true, max_length: 253 }, count: { type: 'integer', required: false } },
  },
  // Seed 001's table: dns_lookup is moderate; network:diag covers "Ping, DNS, port scans".
  dns_lookup: {
    description: 'Resolve a host name',
    scopes: ['network:diag'],
    risk_level: 'moderate',
    requires_approval: false,
    arguments: {
      host: { type: 'string', required: true, max_length: 253 },
      record_type: { type: 'string', required: false, enum: ['A', 'AAAA', 'CNAME', 'MX', 'NS', 'TXT', 'SRV', 'PTR', 'SOA'] },
    },
  },
  manage_container: {
    description: 'Start, stop or restart a container',
    scopes: ['container:write'],
    risk_level: 'high',
    requires_approval: false,
    arguments: {
      name: { type: 'string', required: true, max_length: 256 },
      action: { type: 'string', required: true, enum: ['start', 'stop', 'restart'] },
    },
  },
  // Seed 001's table: high, "no approval (but scoped)". Writing needs file:write (which includes file:read), and every
  // path must lie under the prefixes (docs/authorization.md, path arguments): override them in authz.tools.
  file_operations: {
    description: 'Read, write, list or delete a file under the allowed directories',
    scopes: ['file:write'],
    risk_level: 'high',
    requires_approval: false,
    arguments: {
      operation: { type: 'string', required: true, enum: ['read', 'write', 'append', 'list', 'delete'] },
      path: { type: 'string', required: true, path_prefixes: ['/srv/files'] },
      content: { type: 'string', required: false, max_length: 1_048_576 },
    },
  },
  install_package: {
    description: 'Install a system package',
    scopes: ['system:admin'],
    risk_level: 'critical',
    requires_approval: true,
    arguments: { package_name: { type: 'string', required: true, max_length: 256 }, auto_approve: { type: 'boolean', required: false } },
  },
  pull_docker_image: {
    description: 'Pull a Docker image',
    scopes: ['docker:admin'],
    risk_level: 'critical',
    requires_approval: true,
    arguments: { image: { type: 'string', required: true, max_length: 512 } },
  },
  // Seed 001 defense layer 3 names it with install_package as an approval-gated example. It pulls an image
  // (docker:admin, "Pull images, manage Docker") and replaces a container (container:admin, "Update containers"): both.
  update_docker_container: {
    description: 'Update a container to a new image (pull and recreate)',
    scopes: ['docker:admin', 'container:admin'],
    risk_level: 'critical',
    requires_approval: true,
    arguments: {
      name: { type: 'string', required: true, max_length: 256 },
      image: { type: 'string', required: false, max_length: 512 },
    },
  },
  // Seed 001 threat 4: network:diag, requires_approval=true, URL allow-list.
  http_request_test: {
    description: 'Fetch a URL to test connectivity',
    scopes: ['network:diag'],
    risk_level: 'moderate',
    requires_approval: true,
    arguments: {
      url: {
        type: 'string',
        required: true,
        url: { schemes: ['https', 'http'], hosts: ['example.com', '*.example.com'], allow_private: false, allow_cidrs: [] },
      },
    },
  },
});

interface CompiledArgument {
  name: string;
  spec: ArgumentSpecConfig;
  url: CompiledUrlConstraint | undefined;
  prefixes: string[] | undefined;
}

export interface CompiledTool {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly risk_level: RiskLevel;
  readonly requires_approval: boolean;
  /** Undefined: any arguments accepted unchecked. */
  readonly args: Readonly<Record<string, CompiledArgument>> | undefined;
  readonly rule: string;
}

function configError(path: string, message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `${path}: ${message}`);
}

function compileArgument(path: string, name: string, spec: ArgumentSpecConfig): CompiledArgument {
  if ((spec.url || spec.path_prefixes || spec.max_length !== undefined) && spec.type !== 'string') {
    throw configError(path, `url, path_prefixes and max_length apply to string arguments, not ${spec.type}`);
  }
  if (spec.url && spec.path_prefixes) throw configError(path, 'an argument is either a URL or a path, not both');
  for (const v of spec.enum ?? []) {
    const ok = spec.type === 'string' ? typeof v === 'string' : spec.type === 'boolean' ? typeof v === 'boolean' : typeof v === 'number';
    if (!ok) throw configError(`${path}.enum`, `value ${JSON.stringify(v)} is not a ${spec.type}`);
  }
  let url: CompiledUrlConstraint | undefined;
  if (spec.url) {
    try {
      url = compileUrlConstraint(spec.url);
    } catch (e) {
      throw configError(`${path}.url.allow_cidrs`, (e as Error).message);
    }
  }
  return { name, spec, url, prefixes: spec.path_prefixes?.map(normalizePrefix) };
}

export function compileTool(path: string, name: string, t: ToolPolicyConfig, scopes: ScopeRegistry): CompiledTool {
  for (const s of t.scopes) {
    if (!scopes.isScope(s)) throw configError(`${path}.scopes`, scopes.isBundle(s) ? `"${s}" is a bundle; name scopes` : `unknown scope "${s}"`);
  }
  let args: Record<string, CompiledArgument> | undefined;
  if (t.arguments) {
    args = nullObject();
    for (const [argName, spec] of Object.entries(t.arguments)) args[argName] = compileArgument(`${path}.arguments.${argName}`, argName, spec);
  }
  return Object.freeze({ name, scopes: [...t.scopes], risk_level: t.risk_level, requires_approval: t.requires_approval, args, rule: `tool:${name}` });
}

const JSON_TYPE = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function typeMatches(spec: ArgumentSpecConfig, v: unknown): boolean {
  switch (spec.type) {
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'object':
      return JSON_TYPE(v) === 'object';
    default:
      return JSON_TYPE(v) === spec.type;
  }
}

function refused(tool: string, reason: string, argument: string): GatehouseError {
  return new GatehouseError('GH_ARGUMENT_REFUSED', `Argument refused: ${tool}.${argument} ${reason}`, { data: { tool, argument } });
}

export class ToolRegistry {
  readonly #tools: Record<string, CompiledTool> = nullObject();

  constructor(cfg: Pick<AuthzConfig, 'default_tools' | 'tools'>, scopes: ScopeRegistry) {
    const base = cfg.default_tools === 'seed001' ? SEED001_TOOLS : {};
    for (const [name, t] of Object.entries(base)) this.#tools[name] = compileTool(`authz.default_tools.${name}`, name, t, scopes);
    for (const [name, t] of Object.entries(cfg.tools)) this.#tools[name] = compileTool(`authz.tools.${name}`, name, t, scopes);
  }

  get(name: string): CompiledTool | undefined {
    return this.#tools[name];
  }
  has(name: string): boolean {
    return this.#tools[name] !== undefined;
  }
  names(): string[] {
    return Object.keys(this.#tools);
  }

  /**
   * Throws GH_ARGUMENT_REFUSED naming the argument and the rule; never echoes a URL (it may carry secrets).
   * Synchronous (returns undefined) unless an argument with a URL constraint is present: host names are resolved,
   * so from that argument on the checks continue in the returned promise, in the same order, and it rejects instead.
   */
  checkArguments(tool: CompiledTool, args: Record<string, unknown>, resolve: HostResolver): Promise<void> | undefined {
    if (!tool.args) return undefined;
    for (const key of Object.keys(args)) {
      if (tool.args[key] === undefined) throw refused(tool.name, 'is not an argument of this tool', key.slice(0, 128));
    }
    const specs = Object.values(tool.args);
    for (let i = 0; i < specs.length; i++) {
      const a = specs[i] as CompiledArgument;
      if (this.#checkLocal(tool, a, args[a.name])) return this.#checkFrom(tool, specs, i, args, resolve);
    }
    return undefined;
  }

  /** The checks that need no I/O; true when the value is a string still to be checked against a URL constraint. */
  #checkLocal(tool: CompiledTool, a: CompiledArgument, v: unknown): boolean {
    if (v === undefined) {
      if (a.spec.required) throw refused(tool.name, 'is required', a.name);
      return false;
    }
    if (!typeMatches(a.spec, v)) throw refused(tool.name, `must be of type ${a.spec.type}`, a.name);
    if (a.spec.enum && !a.spec.enum.includes(v as string | number | boolean)) throw refused(tool.name, 'is not one of the allowed values', a.name);
    if (typeof v !== 'string') return false;
    if (a.spec.max_length !== undefined && v.length > a.spec.max_length) throw refused(tool.name, `is longer than ${a.spec.max_length}`, a.name);
    if (a.prefixes) {
      const reason = checkPath(v, a.prefixes);
      if (reason) throw refused(tool.name, reason, a.name);
    }
    return a.url !== undefined;
  }

  /** From argument `from` on (its local checks already passed): URL checks awaited in order, local checks between them. */
  async #checkFrom(tool: CompiledTool, specs: readonly CompiledArgument[], from: number, args: Record<string, unknown>, resolve: HostResolver): Promise<void> {
    for (let i = from; i < specs.length; i++) {
      const a = specs[i] as CompiledArgument;
      const v = args[a.name];
      if (i !== from && !this.#checkLocal(tool, a, v)) continue;
      const reason = await checkUrl(v as string, a.url as CompiledUrlConstraint, resolve);
      if (reason) throw refused(tool.name, reason, a.name);
    }
  }
}

import { z } from 'zod';
import { filePath, scopeName, section, tenantId } from './common.js';
import { AUTH_METHODS } from './auth.js';

/** Seed 001's scope hierarchy: each scope and the scope(s) that include it (null for a root). */
export const SEED001_SCOPE_HIERARCHY: Readonly<Record<string, string | null>> = Object.freeze({
  admin: null,
  'system:admin': 'admin',
  'docker:admin': 'admin',
  'container:admin': 'admin',
  'container:write': 'container:admin',
  'container:read': 'container:write',
  'file:write': 'admin',
  'file:read': 'file:write',
  'network:diag': 'admin',
  'network:read': 'network:diag',
  'system:read': 'admin',
});

/** Seed 001's bundle: `readonly` = all read-only scopes. */
export const SEED001_SCOPE_BUNDLES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  readonly: ['system:read', 'network:read', 'container:read', 'file:read'],
});

export const RISK_LEVELS = ['low', 'moderate', 'high', 'critical'] as const;
/** Seed 002's permissions. */
export const ACL_PERMISSIONS = ['publish', 'subscribe', 'cache_read', 'cache_write', 'admin'] as const;

/** MCP tool names: 1–128 of A-Z a-z 0-9 _ - . (MCP tool naming guidance). */
export const toolName = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'a tool name is 1-128 of A-Z a-z 0-9 _ - .');
export { tenantId };
const argName = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'an argument name is 1-128 of A-Z a-z 0-9 _ - .');
const riskLevel = z.enum(RISK_LEVELS);

/** Host allow-list entry: exact host, `*.suffix`, or `*` (any public host). */
const hostPattern = z.string().regex(/^(\*|(\*\.)?[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])$/, 'a host is lower-case, `*.suffix` or `*`');

/** Seed 001 threat 4 (SSRF via http_request_test): where a URL argument may point. */
export const urlConstraintSchema = z.strictObject({
  schemes: z.array(z.enum(['http', 'https'])).min(1).default(['https', 'http']),
  hosts: z.array(hostPattern).default([]),
  ports: z.array(z.number().int().min(1).max(65535)).optional(),
  /** Private, loopback, link-local and metadata addresses are refused unless this is true… */
  allow_private: z.boolean().default(false),
  /** …or the address lies in one of these CIDRs. */
  allow_cidrs: z.array(z.string().min(2)).default([]),
});

export const argumentSpecSchema = z.strictObject({
  type: z.enum(['string', 'number', 'integer', 'boolean', 'object', 'array']).default('string'),
  required: z.boolean().default(false),
  enum: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1).optional(),
  max_length: z.number().int().positive().optional(),
  url: urlConstraintSchema.optional(),
  /** File tools (seed 001's planned path-based file access control): the value must lie under one of these. */
  path_prefixes: z.array(z.string().regex(/^\//, 'a path prefix is absolute')).min(1).optional(),
});

export const toolPolicySchema = z.strictObject({
  description: z.string().max(512).optional(),
  /** Every scope listed is required (each may be satisfied through the hierarchy). */
  scopes: z.array(scopeName).default([]),
  risk_level: riskLevel,
  requires_approval: z.boolean().default(false),
  /** When present, the closed set of arguments the tool accepts; absent = any arguments, unchecked. */
  arguments: z.record(argName, argumentSpecSchema).optional(),
});

const methodName = z.string().regex(/^[A-Z]{1,16}$/, 'an HTTP method is upper-case');

/** HTTP classification rule: method + path pattern with named parameters → Operation. */
export const routeRuleSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  /** `/t/:tenant/ns/:namespace/streams/:stream`; a final `*` matches the rest. */
  path: z.string().regex(/^\/[A-Za-z0-9._~:@*/-]*$/, 'a path pattern is absolute'),
  /** Methods this rule matches (default: any); ignored when `actions` is given. */
  methods: z.array(methodName).min(1).optional(),
  /** Action per method, e.g. { POST: publish, GET: subscribe }. */
  actions: z.record(methodName, z.string().regex(/^[a-z_]{1,32}$/)).optional(),
  /** Action for every matched method when `actions` is absent (default: the method in lower case). */
  action: z.string().regex(/^[a-z_]{1,32}$/).optional(),
  /** Resource template, e.g. `stream:{stream}`. */
  resource: z.string().regex(/^[A-Za-z0-9_.:*{}-]{1,160}$/).optional(),
  scopes: z.array(scopeName).default([]),
  /** With a :tenant parameter the action is checked against the ACLs unless this is false. */
  rbac: z.boolean().default(true),
  /** Explicitly allow every authenticated principal (a rule with no requirement is otherwise refused at load). */
  any_authenticated: z.boolean().default(false),
  risk_level: riskLevel.default('low'),
  requires_approval: z.boolean().default(false),
});

/** The 'authz' section (issue 4; seeds 001 and 002). */
export const authzSection = section({
  /** Shown in every decision; default: a hash of the effective policy. */
  policy_version: z.string().regex(/^[A-Za-z0-9_.:+-]{1,64}$/).optional(),
  scopes: section({
    /** scope → the scope(s) that include it; null for a root. A cycle or an unknown parent is an error. */
    hierarchy: z.record(scopeName, z.union([scopeName, z.array(scopeName), z.null()])).default({ ...SEED001_SCOPE_HIERARCHY }),
    /** name → scopes it stands for (seed 001: readonly). */
    bundles: z.record(scopeName, z.array(scopeName).min(1)).default({ readonly: [...(SEED001_SCOPE_BUNDLES['readonly'] ?? [])] }),
  }),
  /** Known tenants (seed 002: unknown tenants rejected). Empty: the tenants the ACL files name. */
  tenants: z.array(tenantId).default([]),
  /** Principals allowed to act as admin in other tenants; `*` = every tenant. The scope `tenant:<id>:admin` / `tenant:*:admin` is the token form. */
  /**
   * Principals that administer other tenants. A principal id is unique only within the credential kind it came from:
   * `method` (and for jwt `issuer`) narrow a grant to one of them, so a partner IdP's `sub: sre` is not our `sre`.
   */
  cross_tenant_grants: z
    .array(
      z
        .strictObject({
          principal: z.string().min(1).max(256),
          tenants: z.array(z.union([tenantId, z.literal('*')])).min(1),
          method: z.enum(AUTH_METHODS).optional(),
          issuer: z.string().min(1).max(2000).optional(),
        })
        .refine((g) => g.issuer === undefined || g.method === undefined || g.method === 'jwt', { message: 'issuer narrows jwt principals only: set method: jwt or leave method out', path: ['issuer'] }),
    )
    .default([]),
  /** Seed 002 ACL documents (multi-document YAML allowed), relative to the working directory. */
  acl_files: z.array(filePath()).default([]),
  /** Resource types ACL rules may name (seed 002: stream, cache). */
  resource_types: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/)).min(1).default(['stream', 'cache']),
  /** Seed 001's tool table is the default registry ('none' to start empty); `tools` adds or overrides. */
  default_tools: z.enum(['seed001', 'none']).default('seed001'),
  tools: z.record(toolName, toolPolicySchema).default({}),
  routes: z.array(routeRuleSchema).default([]),
  /** An HTTP request matching no rule: denied (default) or allowed for any authenticated principal. */
  http_default: z.enum(['deny', 'authenticated']).default('deny'),
  mcp: section({
    /** JSON-RPC methods allowed besides the built-in protocol methods (initialize, ping, notifications/*, lists). */
    extra_methods: z.array(z.string().regex(/^[A-Za-z0-9_/.-]{1,128}$/)).default([]),
    /** resources/read and resources/subscribe: the first matching URI prefix's scopes apply; unmatched = denied. */
    resources: z.array(z.strictObject({ uri_prefix: z.string().min(1).max(512), scopes: z.array(scopeName).default([]) })).default([]),
    /** prompts/get: prompt name → scopes; unknown prompts denied. */
    prompts: z.record(toolName, z.strictObject({ scopes: z.array(scopeName).default([]) })).default({}),
    max_batch: z.number().int().positive().max(1000).default(32),
    /** Mcp-Session-Id bound to the principal that opened the session (docs/gateway.md § MCP sessions). */
    sessions: section({
      /** The binding key (32 bytes, hex or base64, mode 0600), shared by gateway hosts behind one load balancer; default: generated in <state_dir>/keys/mcp-session.key. */
      key_file: filePath().optional(),
      /** Forward session ids unbound, as the upstream issued them: any principal who learns one can use it. Refused in production. */
      insecure_unbound: z.boolean().default(false),
    }),
  }),
});
export type AuthzConfig = z.infer<typeof authzSection>;
export type ToolPolicyConfig = z.infer<typeof toolPolicySchema>;
export type ArgumentSpecConfig = z.infer<typeof argumentSpecSchema>;
export type UrlConstraintConfig = z.infer<typeof urlConstraintSchema>;
export type RouteRuleConfig = z.infer<typeof routeRuleSchema>;

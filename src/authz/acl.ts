/**
 * Seed 002's ACL documents (`apiVersion: felix.io/v1`, `kind: ACL`), loaded as written, several per file.
 * Validated strictly: an unknown permission, resource type or key is an error naming the file, document and path.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { LineCounter, parseAllDocuments, type YAMLError } from 'yaml';
import { z } from 'zod';
import { ACL_PERMISSIONS, tenantId } from '../config/schema/authz.js';
import { AUTH_METHODS } from '../config/schema/auth.js';
import { describeYamlError } from '../config/yaml-error.js';
import { GatehouseError } from '../core/errors.js';

export type AclPermission = (typeof ACL_PERMISSIONS)[number];

export interface AclRule {
  tenant: string;
  namespace: string;
  principal: string;
  /** Only principals from this authentication method (a principal id is unique only within its method). */
  method?: string | undefined;
  /** Only JWT principals from this issuer. */
  issuer?: string | undefined;
  /** `*`, `type:*` or `type:name`. */
  resource: string;
  permissions: AclPermission[];
  /** Where it came from, for decisions: `acl:<file>#<doc>.rules[<i>]`. */
  source: string;
}

const MAX_ACL_FILE = 16 * 1024 * 1024;
const nameRe = /^[A-Za-z0-9_.-]{1,128}$/;

const aclDocSchema = z.strictObject({
  apiVersion: z.enum(['felix.io/v1', 'gatehouse.io/v1']),
  kind: z.literal('ACL'),
  metadata: z.strictObject({
    tenant: tenantId,
    /** `*`: every namespace of the tenant. */
    namespace: z.union([z.string().regex(nameRe), z.literal('*')]),
    name: z.string().max(253).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    rules: z.array(
      z.strictObject({
        /** A principal id, or `*` for every authenticated principal. */
        principal: z.string().min(1).max(256),
        /** Gatehouse's addition: narrow the rule to one credential kind, so a partner IdP's `sub: svc-x` is not our `svc-x`. */
        method: z.enum(AUTH_METHODS).optional(),
        issuer: z.string().min(1).max(2000).optional(),
        resource: z.string().min(1).max(256),
        permissions: z.array(z.string()).min(1),
      }).refine((r) => r.issuer === undefined || r.method === undefined || r.method === 'jwt', { message: 'issuer narrows jwt principals only: set method: jwt or leave method out', path: ['issuer'] }),
    ),
  }),
});

function aclError(where: string, message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `${where}: ${message}`);
}

const PERMISSIONS: ReadonlySet<string> = new Set(ACL_PERMISSIONS);
const RESOURCE_RE = /^(\*|[a-z][a-z0-9_-]{0,31}:(\*|[A-Za-z0-9_.-]{1,200}))$/;

function checkResource(resource: string, types: ReadonlySet<string>, where: string): void {
  if (!RESOURCE_RE.test(resource)) throw aclError(where, `resource "${resource.slice(0, 64)}" is not "*", "type:*" or "type:name"`);
  if (resource === '*') return;
  const type = resource.slice(0, resource.indexOf(':'));
  if (!types.has(type)) throw aclError(where, `unknown resource type "${type}" (known: ${[...types].join(', ')})`);
}

/** Parses one YAML text holding one or more ACL documents. `label` names the file in errors and decisions. */
export function parseAclText(text: string, label: string, resourceTypes: readonly string[]): AclRule[] {
  const types = new Set(resourceTypes);
  const rules: AclRule[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { uniqueKeys: true, lineCounter: lines });
  if (!Array.isArray(docs)) throw aclError(label, 'not a YAML document stream');
  docs.forEach((doc, d) => {
    const where = `${label}#${d}`;
    // Code and position only: the parser's messages quote the source text, which may be a secret.
    if (doc.errors.length > 0) throw aclError(where, `YAML error: ${describeYamlError(doc.errors[0] as YAMLError, lines)}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // an empty document between separators
    const parsed = aclDocSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0] as z.core.$ZodIssue;
      throw aclError(`${where}.${issue.path.join('.')}`, issue.message);
    }
    const { metadata, spec } = parsed.data;
    spec.rules.forEach((r, i) => {
      const ruleWhere = `${where}.spec.rules[${i}]`;
      checkResource(r.resource, types, ruleWhere);
      for (const p of r.permissions) {
        if (!PERMISSIONS.has(p)) throw aclError(`${ruleWhere}.permissions`, `unknown permission "${p.slice(0, 32)}" (known: ${ACL_PERMISSIONS.join(', ')})`);
      }
      rules.push({
        tenant: metadata.tenant,
        namespace: metadata.namespace,
        principal: r.principal,
        ...(r.method !== undefined || r.issuer !== undefined ? { method: r.method ?? 'jwt', issuer: r.issuer } : {}),
        resource: r.resource,
        permissions: r.permissions as AclPermission[],
        source: `acl:${label}#${d}.rules[${i}]`,
      });
    });
  });
  return rules;
}

/** Reads every configured ACL file (relative paths against `baseDir`). */
export async function loadAclFiles(files: readonly string[], baseDir: string, resourceTypes: readonly string[]): Promise<AclRule[]> {
  const out: AclRule[] = [];
  for (const [i, file] of files.entries()) {
    const path = isAbsolute(file) ? file : resolvePath(baseDir, file);
    let text: string;
    try {
      const buf = await readFile(path);
      if (buf.length > MAX_ACL_FILE) throw new RangeError('too large');
      text = buf.toString('utf8');
    } catch (cause) {
      throw new GatehouseError('GH_CONFIG_FILE_UNREADABLE', `authz.acl_files[${i}]: cannot read ${file}`, { cause });
    }
    for (const r of parseAclText(text, file, resourceTypes)) out.push(r);
  }
  return out;
}

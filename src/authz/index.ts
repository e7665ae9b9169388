/** Authorization (issue 4; seeds 001 and 002): scopes, tenancy, RBAC over seed 002 ACLs, MCP tool policy, decisions. */
export { createPolicyEngine, APPROVAL_HEADER, APPROVAL_META_KEY, APPROVER_SCOPE, type PolicyEngine, type PolicyEngineOptions } from './engine.js';
export { Authorizer, type DecisionOutcome, type AuthorizerParts } from './decide.js';
export { ScopeRegistry, type ExpandedScopes, type ScopeCheck, type ScopeHierarchyInput } from './scopes.js';
export { ToolRegistry, SEED001_TOOLS, compileTool, type CompiledTool } from './tools.js';
export { RouteTable, type CompiledRoute, type RouteMatch } from './routes.js';
export { RbacIndex, isPermission } from './rbac.js';
export { parseAclText, loadAclFiles, type AclRule, type AclPermission } from './acl.js';
export { ResidencyGuard, type ResidencyCrossing, type ResidencyVerdict } from './residency.js';
export { Tenancy, CROSS_TENANT_ALL_SCOPE, tenantAdminScope, type CrossTenantGrant } from './tenancy.js';
export { checkUrl, compileUrlConstraint, isPrivateAddress, systemResolver, type HostResolver, type ResolvedAddress } from './url-policy.js';
export { checkPath } from './path-policy.js';
export { parseJsonRpc, type ParsedJsonRpc, type JsonRpcMessage, type JsonRpcId } from './jsonrpc.js';
export { buildJsonRpcError, jsonRpcCodeFor, POLICY_JSONRPC_CODES } from './jsonrpc-error.js';
export { makeListFilter, makeStreamListFilter, UNFILTERABLE_EVENT, type ListKind } from './list-filter.js';
export { MCP_PROTOCOL_METHODS } from './mcp-policy.js';
export { SEED001_SCOPE_HIERARCHY, SEED001_SCOPE_BUNDLES } from '../config/schema/authz.js';

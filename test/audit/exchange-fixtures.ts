import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { GatehouseError } from '../../src/core/errors.js';
import type { Decision, Exchange, Principal } from '../../src/core/types.js';

export const alice: Principal = {
  id: 'ops-automation',
  type: 'agent',
  method: 'token',
  scopes: ['container:read'],
  network: {
    source_ip: '100.101.102.103',
    peer_ip: '127.0.0.1',
    tls: true,
    tailscale: { tailscale_user: 'alice@example.com', tailscale_node: 'dev1', tailscale_tags: ['tag:systemmanager-client'], tailnet: 'example.ts.net' },
  },
  credential_id: 'tok_123',
  attributes: {},
};

/** A finished exchange as the gateway's record stage sees it. */
export function exchange(over: Partial<Exchange> = {}): Exchange {
  return {
    id: 'req-0001',
    startedAt: performance.now() - 12,
    req: { headers: { 'user-agent': 'claude-code/1.0' } } as unknown as IncomingMessage,
    res: {} as ServerResponse,
    method: 'POST',
    path: '/mcp',
    query: '',
    network: alice.network,
    route: { name: 'mcp', prefix: '/mcp', kind: 'mcp' },
    principal: alice,
    operation: { kind: 'mcp', method: 'POST', path: '/mcp', mcp_method: 'tools/call', tool: 'list_containers', args: { all: true }, risk_level: 'low' },
    decision: { allow: true, reason: 'scope_satisfied', scopes_used: ['container:read'], policy_version: 'v1' },
    approval: undefined,
    body: undefined,
    upstreamHeaders: {},
    upstreamSigner: undefined,
    status: 200,
    error: undefined,
    meta: {},
    responseFilter: undefined,
    ...over,
  };
}

/** Seed 001's lateral movement: a readonly token calling a critical tool. */
export function scopeDenied(): Exchange {
  const decision: Decision = { allow: false, reason: 'scope_missing', missing_scope: 'system:admin', scopes_used: [], policy_version: 'v1', risk_level: 'critical' };
  return exchange({
    operation: { kind: 'mcp', method: 'POST', path: '/mcp', mcp_method: 'tools/call', tool: 'install_package', args: { package_name: 'nginx' }, risk_level: 'critical' },
    decision,
    status: 403,
    error: new GatehouseError('GH_SCOPE_MISSING', 'A required scope is missing.', { data: { missing_scope: 'system:admin' } }),
  });
}

export function criticalApproved(): Exchange {
  return exchange({
    operation: { kind: 'mcp', method: 'POST', path: '/mcp', mcp_method: 'tools/call', tool: 'install_package', args: { package_name: 'nginx', auto_approve: true }, risk_level: 'critical' },
    decision: { allow: true, reason: 'scope_satisfied', scopes_used: ['admin'], policy_version: 'v1', risk_level: 'critical', requires_approval: true },
    approval: { required: true, approved: true, id: 'apr_1', approver: 'bob@example.com' },
  });
}

export function criticalUnapproved(): Exchange {
  return exchange({
    principal: { ...alice, id: 'intruder', network: { ...alice.network, tailscale: { ...alice.network.tailscale, tailscale_user: 'mallory@example.com' } } },
    operation: { kind: 'mcp', method: 'POST', path: '/mcp', mcp_method: 'tools/call', tool: 'pull_docker_image', args: { image: 'evil/miner' }, risk_level: 'critical' },
    decision: { allow: true, reason: 'scope_satisfied', scopes_used: ['docker:admin'], policy_version: 'v1', risk_level: 'critical', requires_approval: true },
    approval: { required: true, approved: false, id: 'apr_2' },
    status: 403,
    error: new GatehouseError('GH_APPROVAL_DENIED'),
  });
}

/** A gateway with one approval-gated HTTP route on a recording upstream, and tokens for a requester and an approver. */
import { openTokenService } from '../../src/authn/index.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from './gateway.js';

export interface ApprovalGateway {
  upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  gw: TestGateway;
  /** ops-bot, scopes admin: the requester. */
  token: string;
  /** alice, scopes admin: another principal, who may approve. */
  approverToken: string;
  close(): Promise<void>;
}

/**
 * `routes` are authz route rules under /ops (default: POST /ops/purge needing system:admin and an approval); the
 * approval section defaults to the queue with hold_timeout 0 (the call answers at once with the approval id).
 */
export async function startApprovalGateway(opts: { routes?: Record<string, unknown>[]; approval?: Record<string, unknown> } = {}): Promise<ApprovalGateway> {
  const upstream = await startRecordingUpstream();
  const routes = opts.routes ?? [{ name: 'purge', path: '/ops/purge', methods: ['POST'], scopes: ['system:admin'], risk_level: 'high', requires_approval: true }];
  const gw = await startTestGateway({
    routes: [{ name: 'ops', prefix: '/ops', upstream: upstream.url, auth_required: true }],
    auth: { methods: ['token'] },
    authz: { routes },
    approval: { mode: 'queue', queue: { hold_timeout: 0 }, ...opts.approval },
  });
  const svc = openTokenService(gw.config, { stateDir: gw.stateDir });
  const token = (await svc.mint({ agent: 'ops-bot', scopes: ['admin'], ttlMs: 3_600_000 })).token;
  const approverToken = (await svc.mint({ agent: 'alice', scopes: ['admin'], ttlMs: 3_600_000 })).token;
  return {
    upstream,
    gw,
    token,
    approverToken,
    async close() {
      await gw.stop();
      await upstream.close();
    },
  };
}

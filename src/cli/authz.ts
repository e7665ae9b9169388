import { openTokenService, parseScopes } from '../authn/index.js';
import { createPolicyEngine } from '../authz/index.js';
import { createRedactor } from '../redact/index.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { safeJsonParse } from '../core/safe.js';
import type { Decision, Logger, Operation, Principal } from '../core/types.js';
import { checkTarget } from '../gateway/exchange.js';
import { Router } from '../gateway/router.js';
import { MemoryStore } from '../store/index.js';
import { configOption, loadCliConfig, openCliStore } from './context.js';
import type { CliContext, Command, ParsedArgs } from './types.js';
import { bool, readStdin, str, writeLine } from './types.js';

const quietLogger: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child: () => quietLogger };
const printable = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');

interface Subject {
  principal: Principal;
  /** The token's status when --token was given. */
  tokenStatus?: string;
}

async function principalFrom(args: ParsedArgs, ctx: CliContext, cfg: Awaited<ReturnType<typeof loadCliConfig>>): Promise<Subject> {
  const token = str(args, 'token') ?? (bool(args, 'token-stdin') ? (await readStdin(ctx, 65_536, 'token')).toString('utf8').trim() : undefined);
  const network = { source_ip: '127.0.0.1', peer_ip: '127.0.0.1', tls: true };
  if (token !== undefined) {
    if (str(args, 'scopes') !== undefined) throw new GatehouseError('GH_USAGE', 'give --token or --scopes, not both');
    const store = openCliStore(cfg, ctx);
    try {
      const info = await openTokenService(cfg, { stateDir: cfg.state_dir, store }).inspect(token);
      // A token whose MAC does not verify carries claims nobody vouches for: explain nothing from them.
      if (info.status === 'invalid') throw new GatehouseError('GH_TOKEN_INVALID', 'The token does not verify against this configuration.');
      const c = info.claims;
      const principal: Principal = { id: c.sub, type: 'agent', method: 'token', scopes: c.scopes, network, attributes: {}, credential_id: c.jti };
      if (c.tenant !== undefined) principal.tenant = c.tenant;
      if (c.bg) principal.break_glass = true;
      return { principal, tokenStatus: info.status };
    } finally {
      await store.close();
    }
  }
  const scopes = str(args, 'scopes');
  if (scopes === undefined) throw new GatehouseError('GH_USAGE', 'give --token TOKEN (or --token-stdin), or --scopes LIST');
  const principal: Principal = { id: str(args, 'principal') ?? 'explain', type: 'agent', method: 'token', scopes: scopes.trim() === '' ? [] : parseScopes(scopes), network, attributes: {} };
  const tenant = str(args, 'tenant');
  if (tenant !== undefined) principal.tenant = tenant;
  if (bool(args, 'break-glass')) principal.break_glass = true;
  return { principal };
}

function operationFrom(args: ParsedArgs, classifyHttp: (m: string, p: string) => Operation): Operation {
  const tool = str(args, 'tool');
  const method = str(args, 'method');
  const path = str(args, 'path');
  if (tool !== undefined) {
    if (method !== undefined || path !== undefined) throw new GatehouseError('GH_USAGE', 'give --tool, or --method and --path, not both');
    let toolArgs: unknown = {};
    const raw = str(args, 'args');
    if (raw !== undefined) {
      try {
        toolArgs = safeJsonParse(raw, 65_536);
      } catch {
        throw new GatehouseError('GH_USAGE', '--args must be a JSON object, e.g. \'{"package_name":"nginx"}\'');
      }
      if (typeof toolArgs !== 'object' || toolArgs === null || Array.isArray(toolArgs)) throw new GatehouseError('GH_USAGE', '--args must be a JSON object');
    }
    return { kind: 'mcp', method: 'POST', path: '/mcp', mcp_method: 'tools/call', tool, args: toolArgs as Record<string, unknown> };
  }
  if (method === undefined || path === undefined) throw new GatehouseError('GH_USAGE', 'give --tool NAME [--args JSON], or --method M --path P');
  if (!/^[A-Z]{1,16}$/.test(method.toUpperCase()) || !path.startsWith('/')) throw new GatehouseError('GH_USAGE', '--method is an HTTP method and --path an absolute path');
  // Classified as the gateway classifies it: the decoded path, after the same checks (a target the gateway refuses
  // is said to be refused, not explained).
  let target: ReturnType<typeof checkTarget>;
  try {
    target = checkTarget(path);
  } catch (e) {
    const code = e instanceof GatehouseError ? e.code : 'GH_PATH_INVALID';
    throw new GatehouseError('GH_USAGE', `--path: the gateway refuses this request target before any policy (${code})`);
  }
  return classifyHttp(method.toUpperCase(), target.path);
}

const APPROVAL_TEXT: Readonly<Record<string, string>> = {
  none: 'not required',
  queue: 'required: the built-in queue (gatehouse approvals approve ID)',
  webhook: 'required: the approval webhook',
  deny: 'required: the policy denies it (mode deny)',
  unavailable: 'required: no approver configured, so it is denied',
  break_glass: 'skipped: break-glass principal (audited as break_glass)',
};

/**
 * The gateway route a request would take, for data residency: --route, else the route whose prefix the path falls
 * under (as the gateway routes it), else for a tool the first MCP route. Undefined when no route applies.
 */
function gatewayRoute(args: ParsedArgs, cfg: Awaited<ReturnType<typeof loadCliConfig>>, op: Operation): string | undefined {
  const named = str(args, 'route');
  const routes = new Router(cfg.routes);
  if (named !== undefined) {
    if (!routes.routes.some((r) => r.name === named)) throw new GatehouseError('GH_USAGE', `--route: no route is named ${printable(named)} (routes[].name, or routeN for the unnamed one at index N)`);
    return named;
  }
  if (op.kind === 'mcp') return routes.routes.find((r) => r.config.kind === 'mcp')?.name;
  return routes.match(op.path)?.name;
}

function print(ctx: CliContext, s: Subject, op: Operation, d: Decision, mode: string, error: GatehouseError | undefined, residency: string | undefined): void {
  const p = s.principal;
  const what = op.kind === 'mcp' ? `tools/call ${printable(op.tool ?? '')} ${printable(JSON.stringify(op.args ?? {}))}` : `${op.method} ${printable(op.path)}`;
  const rows: Array<[string, string]> = [
    ['decision', d.allow ? 'allow' : 'deny'],
    ['reason', d.reason],
  ];
  if (d.rule !== undefined) rows.push(['rule', printable(d.rule)]);
  if (d.missing_scope !== undefined) rows.push(['missing scope', d.missing_scope]);
  rows.push(['scopes used', d.scopes_used.length > 0 ? d.scopes_used.join(', ') : '-']);
  rows.push(['policy version', d.policy_version]);
  if (d.risk_level !== undefined) rows.push(['risk level', d.risk_level]);
  if (d.allow) rows.push(['approval', APPROVAL_TEXT[mode] ?? mode]);
  if (error) rows.push(['error', `${error.code}: ${printable(error.message)}`]);
  rows.push(['principal', `${printable(p.id)} [${p.scopes.map(printable).join(', ')}]${p.tenant ? ` tenant ${printable(p.tenant)}` : ''}${p.break_glass ? ' break-glass' : ''}`]);
  if (s.tokenStatus !== undefined) rows.push(['token', s.tokenStatus === 'active' ? 'active' : `${s.tokenStatus}: the gateway refuses it before authorization`]);
  rows.push(['operation', what]);
  if (op.tenant !== undefined) rows.push(['resource', `${printable(op.tenant)}/${printable(op.namespace ?? '*')} ${printable(op.resource ?? '*')} ${op.action ?? ''}`]);
  if (residency !== undefined) rows.push(['residency', residency]);
  for (const [k, v] of rows) writeLine(ctx.stdout, `${(k + ':').padEnd(16)} ${v}`);
}

const explain: Command = {
  name: 'explain',
  summary: 'explain the authorization decision for a token and an operation',
  usage: 'gatehouse authz explain (--token T | --token-stdin | --scopes LIST [--tenant T] [--principal ID]) (--tool NAME [--args JSON] | --method M --path P) [--route NAME] [--json]',
  description:
    'Prints the decision the gateway would make: allow or deny, the reason code, the rule that matched or the scope that was\n' +
    'missing, the scopes used, the policy version, and whether approval is needed. Exit status 0 when allowed, 1 when denied.\n' +
    'With residency.region set, data residency is judged for the gateway route the request takes: --route, else the route\n' +
    'the path falls under, else (--tool) the first MCP route.\n' +
    'Examples:\n' +
    '  gatehouse authz explain --token-stdin --tool install_package --args \'{"package_name":"nginx"}\' <<<"$TOKEN"\n' +
    '  gatehouse authz explain --scopes readonly --tool get_system_status\n' +
    '  gatehouse authz explain --scopes "" --principal service-account-publisher --tenant acme-corp \\\n' +
    '      --method POST --path /t/acme-corp/ns/production/streams/orders',
  options: {
    ...configOption,
    token: { type: 'string', value: 'TOKEN', description: 'a Gatehouse token (verified; prefer --token-stdin to keep it out of shell history)' },
    'token-stdin': { type: 'boolean', description: 'read the token from stdin' },
    scopes: { type: 'string', value: 'LIST', description: 'explain for these scopes instead of a token (comma separated)' },
    tenant: { type: 'string', value: 'TENANT', description: 'with --scopes: the tenant the principal is bound to' },
    principal: { type: 'string', value: 'ID', description: 'with --scopes: the principal id ACL rules name (default "explain")' },
    'break-glass': { type: 'boolean', description: 'with --scopes: a break-glass principal' },
    tool: { type: 'string', value: 'NAME', description: 'an MCP tools/call of this tool' },
    args: { type: 'string', value: 'JSON', description: 'the tool arguments as a JSON object' },
    method: { type: 'string', value: 'METHOD', description: 'an HTTP request method' },
    path: { type: 'string', value: 'PATH', description: 'an HTTP request path' },
    route: { type: 'string', value: 'NAME', description: 'the gateway route (routes[].name) the request takes, for data residency' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(args, ctx) {
    const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
    const subject = await principalFrom(args, ctx, cfg);
    const store = new MemoryStore();
    const engine = await createPolicyEngine(cfg, { logger: quietLogger, clock: systemClock, store, audit: { emit: async () => {} } });
    try {
      const op = operationFrom(args, (m, p) => engine.classifyHttp(m, p));
      const route = gatewayRoute(args, cfg, op);
      const out = await engine.decideAt(subject.principal, op, route);
      const d = out.decision;
      const guard = engine.residency;
      const tenant = op.tenant ?? subject.principal.tenant;
      const residency = guard
        ? {
            route: route ?? null,
            gateway_region: guard.region,
            route_region: guard.routeRegion(route),
            allowed_regions: [...guard.policyFor(tenant).allowed],
            rule: guard.policyFor(tenant).rule,
            ...(d.allow ? { crossing: guard.check(route, tenant)?.allow === true } : {}),
          }
        : undefined;
      const mode = subject.principal.break_glass && d.requires_approval ? 'break_glass' : engine.approvalModeFor(op, d);
      const tokenOk = subject.tokenStatus === undefined || subject.tokenStatus === 'active';
      // The operation is shown as the gateway would record it: arguments and path through the redactor (an operator
      // pasting a real call's arguments should not get its api_key back on the terminal, in scrollback, in CI logs).
      const redactor = createRedactor(cfg.redact);
      const shown: Operation = { ...op, path: redactor.redactText(op.path), ...(op.args !== undefined ? { args: redactor.redactValue(op.args) } : {}) };
      if (bool(args, 'json')) {
        const body = { decision: d, approval: mode, principal: subject.principal.id, ...(subject.tokenStatus ? { token_status: subject.tokenStatus } : {}), operation: shown, ...(residency ? { residency } : {}) };
        writeLine(ctx.stdout, JSON.stringify(out.error ? { ...body, error: out.error.toJSON() } : body));
      } else {
        const line = residency
          ? `route ${printable(residency.route ?? '-')} in ${residency.route_region}, gateway in ${residency.gateway_region}; allowed ${residency.allowed_regions.join(', ')} (${printable(residency.rule)})${residency.crossing ? '; crosses regions through a bridge (audited)' : ''}`
          : undefined;
        print(ctx, subject, shown, d, mode, out.error, line);
      }
      return d.allow && tokenOk ? 0 : 1;
    } finally {
      await engine.close();
      await store.close();
    }
  },
};

export const authzCommand: Command = {
  name: 'authz',
  summary: 'inspect authorization policy decisions',
  usage: 'gatehouse authz <explain> [options]',
  subcommands: [explain],
};

/** Approval gates (seed 001 "Defense Layer 3", maximum security: "Implement approval webhook for critical ops"). */
import { SEED001_TOOLS } from '../../authz/index.js';
import type { ApprovalMode } from '../../config/schema/approval.js';
import type { GatehouseConfig } from '../../config/index.js';
import type { CheckDefinition, DoctorContext, Outcome } from '../types.js';
import { fail, judged, passed, warn } from '../outcome.js';

type Risk = 'low' | 'moderate' | 'high' | 'critical';
interface Gated {
  /** "tool install_package" or "route deploy". */
  name: string;
  tool?: string;
  risk: Risk;
  requiresApproval: boolean;
}

/** The tool registry as the gateway builds it (authz ToolRegistry): seed 001's tools unless turned off, then authz.tools. */
function operations(cfg: GatehouseConfig): Gated[] {
  const tools = { ...(cfg.authz.default_tools === 'seed001' ? SEED001_TOOLS : {}), ...cfg.authz.tools };
  return [
    ...Object.entries(tools).map(([name, t]) => ({ name: `tool ${name}`, tool: name, risk: t.risk_level, requiresApproval: t.requires_approval })),
    ...cfg.authz.routes.map((r) => ({ name: `route ${r.name ?? r.path}`, risk: r.risk_level, requiresApproval: r.requires_approval })),
  ];
}

/** The mode the gate would use (approval/gate.ts modeFor): per tool, else per risk, else the default; auto = the webhook if set. */
function effectiveMode(cfg: GatehouseConfig, op: Gated): ApprovalMode | 'none' {
  const a = cfg.approval;
  const perTool = op.tool !== undefined && Object.hasOwn(a.tools, op.tool) ? a.tools[op.tool] : undefined;
  const m = perTool ?? a.modes[op.risk] ?? a.mode;
  if (m === 'auto') return a.webhook.url !== undefined ? 'webhook' : 'none';
  return m;
}

function approver({ cfg }: DoctorContext): Outcome {
  const a = cfg.approval;
  const gated = operations(cfg).filter((op) => op.requiresApproval || a.require_for.includes(op.risk));
  const modes = [a.mode, ...Object.values(a.modes), ...Object.values(a.tools)];
  const startFailures = [
    modes.includes('webhook') && a.webhook.url === undefined && fail('approval mode webhook is set but approval.webhook.url is not: the gateway refuses to start'),
    a.webhook.url !== undefined && a.webhook.secret === undefined && a.webhook.secret_file === undefined && fail('approval.webhook.url is set without approval.webhook.secret or secret_file: the gateway refuses to start'),
  ];
  const unanswered = gated.filter((op) => effectiveMode(cfg, op) === 'none').map((op) => op.name);
  const denied = unanswered.length > 0 && warn(`no approver configured for ${unanswered.join(', ')} (approval.mode auto without approval.webhook.url): they are always denied`);
  const shown = gated.map((op) => `${op.name} → ${effectiveMode(cfg, op)}`);
  return judged([...startFailures, denied], gated.length === 0 ? 'no tool or route needs approval' : shown.join(', '));
}

function criticalRequired({ cfg }: DoctorContext): Outcome {
  if (cfg.approval.require_for.includes('critical')) return passed(`approval.require_for: ${cfg.approval.require_for.join(', ')}`);
  const ungated = operations(cfg).filter((op) => op.risk === 'critical' && !op.requiresApproval).map((op) => op.name);
  return judged(
    [warn(`approval.require_for does not include critical${ungated.length ? `: ${ungated.join(', ')} run without approval` : ''}`)],
    '',
  );
}

export const approvalChecks: CheckDefinition[] = [
  {
    id: 'approval.webhook_https',
    title: 'Approval webhook over https',
    source: 'seed 001 defense layer 3 (SYSTEMMANAGER_APPROVAL_WEBHOOK=https://…)',
    fix: 'Use an https:// approval.webhook.url (plain http only to loopback).',
    refusals: /^approval\.webhook\.url$/,
    passDetail: 'approval.webhook.url is https, loopback or unset',
  },
  {
    id: 'approval.approver',
    title: 'An approver for every operation that needs approval',
    source: 'seed 001 maximum security ("Implement approval webhook for critical ops"); seed 001 defense layer 3',
    fix: 'Set approval.mode (or approval.modes.critical) to queue, or webhook with approval.webhook.url and secret_file; deny if these operations must never run.',
    inspect: approver,
  },
  {
    id: 'approval.critical_required',
    title: 'Critical operations need approval',
    source: 'seed 001 tool risk levels ("critical … Requires Approval: Yes")',
    fix: 'Keep critical in approval.require_for (the default).',
    inspect: criticalRequired,
  },
];

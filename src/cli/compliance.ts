/**
 * `gatehouse compliance report`: evidence for an assessor (docs/compliance.md). Exit 0 when no control is not met,
 * 1 when one is, 2 for a usage or configuration error.
 */
import { isAbsolute, resolve } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { complianceExitCode, complianceReport, formatComplianceJson, formatComplianceText, type Framework } from '../compliance/index.js';
import { configOption, loadCliConfig } from './context.js';
import type { Command } from './types.js';
import { bool, str } from './types.js';

const FRAMEWORK_CHOICES = ['hipaa', 'pci-dss', 'all'] as const;

const report: Command = {
  name: 'report',
  summary: 'HIPAA and PCI DSS controls: what this configuration does, with evidence, and what is missing',
  usage: 'gatehouse compliance report [--config FILE] [--framework hipaa|pci-dss|all] [--json] [--verify-audit]',
  description:
    'For each control a gateway can contribute to (HIPAA 45 CFR 164.312, PCI DSS v4.0), the status met, partial,\n' +
    'not_met, not_applicable or outside_gateway, the doctor checks and settings behind it (never a secret value),\n' +
    'and what to change. Evidence for an assessor, not a certification. The doctor checks run as with --production.\n' +
    '--verify-audit also verifies the audit log in the state directory (as gatehouse audit verify).\n' +
    'Exit status: 0 no control is not met, 1 a control is not met, 2 a usage or configuration error.\n' +
    'Example:\n' +
    '  gatehouse compliance report --config /etc/gatehouse/gatehouse.yaml --framework pci-dss --verify-audit',
  options: {
    ...configOption,
    framework: { type: 'string', value: 'NAME', description: 'hipaa, pci-dss or all (default all)' },
    json: { type: 'boolean', description: 'print the report as JSON' },
    'verify-audit': { type: 'boolean', description: 'verify the audit log (hash chain, checkpoint signatures) as evidence' },
  },
  async run(args, ctx) {
    const framework = str(args, 'framework') ?? 'all';
    if (!(FRAMEWORK_CHOICES as readonly string[]).includes(framework)) throw new GatehouseError('GH_USAGE', '--framework is hipaa, pci-dss or all');
    // skipProfileCheck: production refusals become evidence (failed doctor checks) instead of a load error.
    const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
    const path = str(args, 'config') ?? ctx.env['GATEHOUSE_CONFIG'];
    const configFile = path ? (isAbsolute(path) ? path : resolve(ctx.cwd, path)) : undefined;
    const r = await complianceReport(cfg, {
      framework: framework as Framework | 'all',
      verifyAudit: bool(args, 'verify-audit'),
      env: ctx.env,
      ...(configFile ? { configFile } : {}),
    });
    ctx.stdout.write(bool(args, 'json') ? formatComplianceJson(r) : formatComplianceText(r));
    return complianceExitCode(r);
  },
};

export const complianceCommand: Command = {
  name: 'compliance',
  summary: 'compliance evidence report (HIPAA, PCI DSS): evidence for an assessor, not a certification',
  usage: 'gatehouse compliance report [options]',
  subcommands: [report],
};

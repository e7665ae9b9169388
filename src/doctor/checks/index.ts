import type { CheckDefinition } from '../types.js';
import { approvalChecks } from './approval.js';
import { auditChecks } from './audit.js';
import { clientChecks } from './client.js';
import { authChecks } from './auth.js';
import { bcryptHashesCheck } from './auth-bcrypt.js';
import { configChecks } from './config.js';
import { encryptionChecks } from './encryption.js';
import { fileChecks } from './files.js';
import { limitsChecks } from './limits.js';
import { outboundClientsCheck } from './pins.js';
import { redactChecks } from './redact.js';
import { residencyChecks } from './residency.js';
import { routeChecks } from './routes.js';
import { secretsChecks } from './secrets.js';
import { serverChecks } from './server.js';
import { storeChecks } from './store.js';
import { tlsChecks } from './tls.js';
import { tracingChecks } from './tracing.js';

/** Groups in the order the checklist prints them; a check's group is its id up to the first dot. */
export const GROUPS = ['profile', 'log', 'server', 'metrics', 'tracing', 'tls', 'auth', 'approval', 'audit', 'limits', 'store', 'state', 'files', 'secrets', 'routes', 'client', 'demo', 'redact', 'config', 'production'] as const;

export const groupOf = (id: string): string => id.slice(0, id.indexOf('.'));

/**
 * Reports every production refusal no check above claims (a refusal added later, say), so none is ever dropped: it
 * still fails. Last, because refusals go to the first check whose pattern matches.
 */
const unclaimedRefusals: CheckDefinition = {
  id: 'production.other',
  title: 'Other settings refused in production',
  source: 'gateway production refusals (docs/doctor.md)',
  fix: 'Change the named setting: `gatehouse serve` refuses to start with it in production.',
  refusals: /(?:)/,
  passDetail: 'every production refusal is reported by the checks above',
};

const rank = (c: CheckDefinition): number => GROUPS.indexOf(groupOf(c.id) as (typeof GROUPS)[number]);

/** Every check, in checklist order. */
export const CHECKS: readonly CheckDefinition[] = Object.freeze(
  [...serverChecks, ...tracingChecks, ...tlsChecks, outboundClientsCheck, ...fileChecks, ...authChecks, bcryptHashesCheck, ...approvalChecks, ...auditChecks, ...limitsChecks, ...storeChecks, ...secretsChecks, ...encryptionChecks, ...routeChecks, ...residencyChecks, ...clientChecks, ...redactChecks, ...configChecks, unclaimedRefusals]
    // Array.prototype.sort is stable: within a group the order above stays.
    .sort((a, b) => rank(a) - rank(b)),
);

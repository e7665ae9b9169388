import { z } from 'zod';
import { section } from './common.js';

// The 'audit' section. Owned by the audit capability; filled in by its issue.
export const auditSection = section({});
export type AuditConfig = z.infer<typeof auditSection>;

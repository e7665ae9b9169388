import { z } from 'zod';
import { section } from './common.js';

// The 'approval' section. Owned by the approval capability; filled in by its issue.
export const approvalSection = section({});
export type ApprovalConfig = z.infer<typeof approvalSection>;

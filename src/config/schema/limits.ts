import { z } from 'zod';
import { section } from './common.js';

// The 'limits' section. Owned by the limits capability; filled in by its issue.
export const limitsSection = section({});
export type LimitsConfig = z.infer<typeof limitsSection>;

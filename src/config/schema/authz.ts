import { z } from 'zod';
import { section } from './common.js';

// The 'authz' section. Owned by the authz capability; filled in by its issue.
export const authzSection = section({});
export type AuthzConfig = z.infer<typeof authzSection>;

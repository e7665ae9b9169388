import { z } from 'zod';
import { section } from './common.js';

// The 'auth' section. Owned by the auth capability; filled in by its issue.
export const authSection = section({});
export type AuthConfig = z.infer<typeof authSection>;

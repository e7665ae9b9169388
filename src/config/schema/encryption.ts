import { z } from 'zod';
import { section } from './common.js';

// The 'encryption' section. Owned by the encryption capability; filled in by its issue.
export const encryptionSection = section({});
export type EncryptionConfig = z.infer<typeof encryptionSection>;

import { z } from 'zod';
import { section } from './common.js';

// The 'redact' section. Owned by the redact capability; filled in by its issue.
export const redactSection = section({});
export type RedactConfig = z.infer<typeof redactSection>;

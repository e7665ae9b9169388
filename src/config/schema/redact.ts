import { z } from 'zod';
import { section } from './common.js';

/**
 * The 'redact' section (issue 6, seed 004): extra rules and an allow-list on top of the built-in rules.
 * Patterns are checked for linear-time safety when the redactor is built (GH_REDACT_RULE_UNSAFE); the
 * schema checks shape and size only. See docs/redaction.md.
 */
const ruleName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a rule name is letters, digits and _.- (at most 64)');
const pattern = z.string().min(1).max(512);
const flags = z.enum(['', 'i']).optional();

/** pino-style field path: a.b, a.*.c, a[*].b, headers["x-session"]. */
const FIELD_PATH = /^(?:\*|[A-Za-z0-9_$-]+|\[(?:\*|\d+|"[^"\\\]]+"|'[^'\\\]]+')\])(?:\.(?:\*|[A-Za-z0-9_$-]+)|\[(?:\*|\d+|"[^"\\\]]+"|'[^'\\\]]+')\])*$/;

export const redactRuleSchema = z.strictObject({
  name: ruleName,
  /** A regular expression; with a capturing group only group 1 is replaced. */
  pattern,
  /** Literal replacement text (no $1). Default "[REDACTED]". */
  replacement: z.string().max(64).optional(),
  /** "i" for case-insensitive. */
  flags,
});

export const redactAllowSchema = z.union([z.string().min(1).max(512), z.strictObject({ pattern, flags })]);

export const redactSection = section({
  /** Extra rules, applied after the built-in ones. */
  rules: z.array(redactRuleSchema).max(100).default([]),
  /** Known false positives: an exact string, or { pattern }. A redaction inside an allowed occurrence is kept back. */
  allow: z.array(redactAllowSchema).max(1000).default([]),
  /** Extra sensitive key names (whole names, case-insensitive), in free text and in objects. */
  keys: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'a key name is letters, digits and _.- (at most 128)')).max(200).default([]),
  /** Field paths to redact in structured logs, pino-style: req.headers["x-session"], *.credentials. */
  fields: z.array(z.string().max(256).regex(FIELD_PATH, 'a field path looks like a.b, a.*.c or a["x-y"]')).max(200).default([]),
  /** Extra sensitive directories: any file path under them is redacted. */
  paths: z.array(z.string().min(1).max(1024).regex(/^[\x20-\x7e]+$/, 'a path is printable ASCII')).max(100).default([]),
  /** Values after secret-ish names (signature=, session=, code=) are redacted when they look random. */
  entropy: section({
    enabled: z.boolean().default(true),
    min_length: z.number().int().min(8).max(1024).default(16),
    /** Shannon entropy in bits per character. */
    min_bits: z.number().min(1).max(8).default(3),
  }),
});
export type RedactConfig = z.infer<typeof redactSection>;
export type RedactConfigInput = z.input<typeof redactSection>;

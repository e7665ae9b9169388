/** Log sanitization (seed 004 "Log Sanitization"; seed 003 anti-patterns "Log sensitive data"). */
import { GatehouseError } from '../../core/errors.js';
import { createRedactor, type Redactor } from '../../redact/index.js';
import type { CheckDefinition, DoctorContext, Outcome } from '../types.js';
import { fail, judged, warn } from '../outcome.js';

/**
 * Made-up secrets of the kinds seed 004 lists, each inside the line that would carry it. The configured redactor
 * (built-in rules, then redact.rules, redact.allow and redact.entropy) must take every one of them out.
 */
const CANARIES: readonly { kind: string; line: string; secret: string }[] = [
  { kind: 'a bearer token', line: 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkb2N0b3IifQ.c2lnbmF0dXJlLWNhbmFyeQ', secret: 'c2lnbmF0dXJlLWNhbmFyeQ' },
  { kind: 'a password', line: 'password: Zq8kV2mN9xL4pR7wDoctor', secret: 'Zq8kV2mN9xL4pR7wDoctor' },
  { kind: 'an API key', line: 'api_key=sk_live_doctor4eC39HqLyjWDarjtT1zdp7dc', secret: 'sk_live_doctor4eC39HqLyjWDarjtT1zdp7dc' },
  { kind: 'URL credentials', line: 'connecting to postgres://app:Vw3nDoctorQ8kZ@db.internal/app', secret: 'Vw3nDoctorQ8kZ' },
  { kind: 'a private key', line: '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDoctorCanary\n-----END PRIVATE KEY-----', secret: 'DoctorCanary' },
  { kind: 'a high-entropy session= value', line: 'GET /callback?session=Zq8kV2mN9xL4pR7wXy3TbQdoc', secret: 'Zq8kV2mN9xL4pR7wXy3TbQdoc' },
];

function effective(ctx: DoctorContext): Outcome {
  let redactor: Redactor;
  try {
    // isolated: the process-wide registry of known secrets must not help a weak configuration pass.
    redactor = createRedactor({ ...ctx.cfg.redact, isolated: true });
  } catch (e) {
    return judged([fail(e instanceof GatehouseError ? `the redact section cannot be used: ${e.message}` : 'the redact section cannot be used')], '');
  }
  const leaked = CANARIES.filter((c) => redactor.redactText(c.line).includes(c.secret)).map((c) => c.kind);
  const r = ctx.cfg.redact;
  const suspects = [r.allow.length > 0 && 'redact.allow', !r.entropy.enabled && 'redact.entropy.enabled is false', r.entropy.enabled && r.entropy.min_bits > 4 && 'redact.entropy.min_bits'].filter(Boolean);
  return judged(
    [leaked.length > 0 && warn(`the configured redaction leaves ${leaked.join(', ')} in logs${suspects.length ? ` (look at ${suspects.join(', ')})` : ''}`)],
    `the configured redaction removes ${CANARIES.map((c) => c.kind).join(', ')}`,
  );
}

export const redactChecks: CheckDefinition[] = [
  {
    id: 'redact.effective',
    title: 'Secrets redacted from logs',
    source: 'seed 004 log sanitization; seed 003 anti-patterns ("Log sensitive data (tokens, keys)")',
    fix: 'Narrow redact.allow to exact false positives, keep redact.entropy.enabled: true, and fix any rule gatehouse reports as unsafe.',
    inspect: effective,
  },
];

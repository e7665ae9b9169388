/** The secrets store's master key (seed 003 §3 "Generate and secure master key"; docs/secrets.md). */
import { parseSecretRef, type GatehouseConfig } from '../../config/index.js';
import type { CheckDefinition, DoctorContext, Outcome } from '../types.js';
import { judged, passed, skipped } from '../outcome.js';

/** The secret references routes inject into upstream requests, with their config paths. */
export function upstreamAuthRefs(cfg: GatehouseConfig): { path: string; ref: string }[] {
  return cfg.routes.flatMap((r, i) => {
    const a = r.upstream_auth ?? { headers: {} as Record<string, string>, bearer: undefined, basic: undefined, oauth2: undefined };
    if (!r.upstream_auth && !r.identity_headers?.sign) return [];
    const base = `routes[${i}].upstream_auth`;
    return [
      ...(a.bearer ? [{ path: `${base}.bearer`, ref: a.bearer }] : []),
      ...(a.basic ? [{ path: `${base}.basic.password`, ref: a.basic.password }] : []),
      ...(a.oauth2 ? [{ path: `${base}.oauth2.client_secret`, ref: a.oauth2.client_secret }] : []),
      ...Object.entries(a.headers).map(([h, ref]) => ({ path: `${base}.headers.${h}`, ref })),
      ...(r.identity_headers?.sign ? [{ path: `routes[${i}].identity_headers.sign`, ref: r.identity_headers.sign }] : []),
    ];
  });
}

function masterKey(ctx: DoctorContext): Outcome {
  const s = ctx.cfg.secrets;
  const stored = upstreamAuthRefs(ctx.cfg).filter((r) => {
    const parsed = parseSecretRef(r.ref);
    return typeof parsed !== 'string' && parsed.kind === 'secret';
  });
  if (stored.length === 0) return skipped('no route injects a secret: reference from the secrets store');
  if (s.master_key_file !== undefined) return passed('the master key comes from secrets.master_key_file');
  if ((ctx.env[s.master_key_env] ?? '') !== '') return passed(`the master key comes from ${s.master_key_env}`);
  // Production never generates a master key (a key beside the store protects nothing against a copy of the state directory).
  return judged(
    [{ status: ctx.severe, detail: `${stored.map((r) => r.path).join(', ')} read the secrets store, and neither secrets.master_key_file nor ${s.master_key_env} gives its master key${ctx.production ? ': production refuses to open the store' : ': development generates one beside the store'}` }],
    '',
  );
}

export const secretsChecks: CheckDefinition[] = [
  {
    id: 'secrets.master_key',
    title: 'Secrets store master key kept apart from the store',
    source: 'seed 003 §3 ("Generate and secure master key", "Store in AWS Secrets Manager … or set via SECRETS_MASTER_KEY")',
    fix: 'Set secrets.master_key_file (mode 0600, outside the state directory) or the variable named by secrets.master_key_env, and back the key up.',
    inspect: masterKey,
  },
];

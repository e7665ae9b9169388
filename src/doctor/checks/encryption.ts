/** The local KMS master key of encryption (docs/encryption.md § What lives where): kept apart from the state it protects. */
import { defaultKmsKeyDir, isInsideDir, kmsPlacementProblems } from '../../crypto/index.js';
import type { CheckDefinition, DoctorContext, Outcome } from '../types.js';
import { judged, skipped } from '../outcome.js';

function kmsMasterKey(ctx: DoctorContext): Outcome {
  const { encryption: enc, state_dir: stateDir } = ctx.cfg;
  if (!enc.enabled) return skipped('encryption.enabled is false: the gateway opens no KMS');
  const kms = enc.kms;
  const source = kms.key_file !== undefined ? 'encryption.kms.key_file' : kms.key_env !== undefined ? `encryption.kms.key_env (${kms.key_env})` : undefined;
  const keyDir = kms.key_dir ?? defaultKmsKeyDir(stateDir);
  // Production refuses these at start (gateway/production.ts); development runs with them, so they warn there.
  const findings = kmsPlacementProblems(kms, stateDir).map((detail) => ({ status: ctx.severe, detail: ctx.production ? detail : `${detail} (refused in production)` }));
  const rotation = kms.key_dir !== undefined && !isInsideDir(keyDir, stateDir)
    ? `\`keys rotate --master\` writes to ${kms.key_dir}`
    : source !== undefined
      ? '`keys rotate --master` is refused until encryption.kms.key_dir names a directory outside state_dir'
      : `\`keys rotate --master\` writes to ${keyDir}`;
  return judged(findings, `the master key comes from ${source ?? `generated keys in ${keyDir}`}, outside state_dir; ${rotation}`);
}

export const encryptionChecks: CheckDefinition[] = [
  {
    id: 'secrets.kms_master_key',
    title: 'Encryption master key kept apart from the state it protects',
    source: 'seed 002 envelope encryption ("master key wraps data keys"); seed 003 §3 ("Generate and secure master key")',
    fix: 'Set encryption.kms.key_file (0600, outside the state directory) or encryption.kms.key_env, and encryption.kms.key_dir to a directory outside state_dir for `gatehouse keys rotate --master`; move master-N.key files out of <state_dir>/keys/kms.',
    inspect: kmsMasterKey,
  },
];

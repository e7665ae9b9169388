import { ConfigError, type GatehouseConfig } from '../config/index.js';
import { productionRefusals } from '../doctor/index.js';
import { kmsPlacementProblems } from '../crypto/index.js';

/**
 * The list of settings refused in production lives in doctor/ (capabilities do not import the gateway), so `serve`,
 * startGateway, `config check` and `gatehouse doctor` judge by one list.
 */
export { productionRefusals, isHttpsUpstream } from '../doctor/index.js';

/**
 * Master keys kept in the state directory (docs/encryption.md § What lives where). Judged apart from
 * productionRefusals because it reads the state directory (an earlier rotation's keys); the doctor reports it as
 * `secrets.kms_master_key`.
 */
function kmsRefusals(cfg: GatehouseConfig): string[] {
  return cfg.encryption.enabled ? kmsPlacementProblems(cfg.encryption.kms, cfg.state_dir) : [];
}

/** In production, throws one ConfigError listing every refused setting (exit status 2 from the CLI). */
export function assertProductionReady(cfg: GatehouseConfig): void {
  if (cfg.profile !== 'production') return;
  const problems = [...productionRefusals(cfg), ...kmsRefusals(cfg)];
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `production: ${p}`), 'GH_CONFIG_PRODUCTION_REFUSED');
}

/** The same settings, allowed in development: warned about at start when they are risky opt-outs. */
export function developmentWarnings(cfg: GatehouseConfig): string[] {
  if (cfg.profile === 'production') return [];
  return productionRefusals(cfg).filter((p) => /insecure|dangerously|"none"|plaintext|wildcard/.test(p));
}

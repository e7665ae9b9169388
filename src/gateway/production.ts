import { ConfigError, type GatehouseConfig } from '../config/index.js';
import { productionRefusals } from '../doctor/index.js';

/**
 * The list of settings refused in production lives in doctor/ (capabilities do not import the gateway), so `serve`,
 * startGateway, `config check` and `gatehouse doctor` judge by one list.
 */
export { productionRefusals, isHttpsUpstream } from '../doctor/index.js';

/** In production, throws one ConfigError listing every refused setting (exit status 2 from the CLI). */
export function assertProductionReady(cfg: GatehouseConfig): void {
  if (cfg.profile !== 'production') return;
  const problems = productionRefusals(cfg);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `production: ${p}`), 'GH_CONFIG_PRODUCTION_REFUSED');
}

/** The same settings, allowed in development: warned about at start when they are risky opt-outs. */
export function developmentWarnings(cfg: GatehouseConfig): string[] {
  if (cfg.profile === 'production') return [];
  return productionRefusals(cfg).filter((p) => /insecure|dangerously|"none"|plaintext|wildcard/.test(p));
}

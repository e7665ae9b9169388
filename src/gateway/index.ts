/**
 * gatehouse/gateway — the gateway as a library: start it over a loaded configuration (what `gatehouse serve` does in
 * one process), and the production refusals it starts under. See docs/gateway.md.
 */
export { startGateway, type Gateway, type StartOptions } from './start.js';
export { assertProductionReady, developmentWarnings, productionRefusals, isHttpsUpstream } from './production.js';
export { openConfiguredStore, type OpenConfiguredStoreOptions } from './store.js';

/**
 * gatehouse — every capability as a namespace (`import { authn, secrets } from 'gatehouse'`), plus the few names most
 * programs start from. Each capability is also its own subpath export (`gatehouse/authn`), which loads only it.
 */
export * as core from './core/index.js';
export * as config from './config/index.js';
export * as tls from './tls/index.js';
export * as authn from './authn/index.js';
export * as authz from './authz/index.js';
export * as approval from './approval/index.js';
export * as audit from './audit/index.js';
export * as crypto from './crypto/index.js';
export * as secrets from './secrets/index.js';
export * as backup from './backup/index.js';
export * as redact from './redact/index.js';
export * as limits from './limits/index.js';
export * as doctor from './doctor/index.js';
export * as compliance from './compliance/index.js';
export * as client from './client/index.js';
export * as store from './store/index.js';
export * as gateway from './gateway/index.js';
export { GatehouseError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export { loadConfig, type GatehouseConfig } from './config/index.js';
export { startGateway } from './gateway/index.js';

export * from './errors.js';
export type * from './types.js';
export * from './durations.js';
export * from './clock.js';
export * from './ids.js';
export * from './compare.js';
export * from './safe.js';
export * from './bytes.js';
export type * from './store.js';

export type * from '../core/store.js';

import type { Command } from './types.js';

/** Every top-level command. Capabilities add theirs here. */
export const commands: Command[] = [];

import type { Command } from './types.js';
import { serveCommand } from './serve.js';
import { configCommand } from './config.js';

/** Every top-level command. Capabilities add theirs here. */
export const commands: Command[] = [
  serveCommand,
  configCommand,];

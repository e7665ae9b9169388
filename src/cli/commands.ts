import type { Command } from './types.js';
import { serveCommand } from './serve.js';
import { configCommand } from './config.js';
import { keysCommand } from './keys.js';
import { decryptCommand, encryptCommand } from './encrypt.js';

/** Every top-level command. Capabilities add theirs here. */
export const commands: Command[] = [
  keysCommand,
  encryptCommand,
  decryptCommand,
  serveCommand,
  configCommand,];

import type { Command } from './types.js';
import { tokenCommand } from './token.js';
import { apikeyCommand } from './apikey.js';
import { userCommand } from './user.js';
import { approvalsCommand } from './approvals.js';
import { authzCommand } from './authz.js';
import { serveCommand } from './serve.js';
import { configCommand } from './config.js';
import { auditCommand } from './audit.js';
import { keysCommand } from './keys.js';
import { decryptCommand, encryptCommand } from './encrypt.js';
import { certsCommand } from './certs.js';
import { redactCommand } from './redact.js';

/** Every top-level command. Capabilities add theirs here. */
export const commands: Command[] = [
  serveCommand,
  configCommand,
  certsCommand,
  tokenCommand,
  apikeyCommand,
  userCommand,
  authzCommand,
  approvalsCommand,
  auditCommand,
  keysCommand,
  encryptCommand,
  decryptCommand,
  redactCommand,
];

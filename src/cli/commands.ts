import type { Command } from './types.js';

/**
 * Every top-level command, loaded on use: a command's module (and what it pulls in: the config schema, SQLite, the
 * gateway) is imported only when that command runs, so `gatehouse encrypt` or `gatehouse redact` starts in a fraction
 * of the time and memory `gatehouse serve` needs. Capabilities add theirs here.
 */
export interface CommandEntry {
  readonly name: string;
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'serve', load: async () => (await import('./serve.js')).serveCommand },
  { name: 'config', load: async () => (await import('./config.js')).configCommand },
  { name: 'certs', load: async () => (await import('./certs.js')).certsCommand },
  { name: 'token', load: async () => (await import('./token.js')).tokenCommand },
  { name: 'apikey', load: async () => (await import('./apikey.js')).apikeyCommand },
  { name: 'user', load: async () => (await import('./user.js')).userCommand },
  { name: 'authz', load: async () => (await import('./authz.js')).authzCommand },
  { name: 'approvals', load: async () => (await import('./approvals.js')).approvalsCommand },
  { name: 'audit', load: async () => (await import('./audit.js')).auditCommand },
  { name: 'keys', load: async () => (await import('./keys.js')).keysCommand },
  { name: 'encrypt', load: async () => (await import('./encrypt.js')).encryptCommand },
  { name: 'decrypt', load: async () => (await import('./encrypt.js')).decryptCommand },
  { name: 'limits', load: async () => (await import('./limits.js')).limitsCommand },
  { name: 'client', load: async () => (await import('./client.js')).clientCommand },
  { name: 'secrets', load: async () => (await import('./secrets.js')).secretsCommand },
  { name: 'redact', load: async () => (await import('./redact.js')).redactCommand },
  { name: 'backup', load: async () => (await import('./backup.js')).backupCommand },
  { name: 'doctor', load: async () => (await import('./doctor.js')).doctorCommand },
  { name: 'compliance', load: async () => (await import('./compliance.js')).complianceCommand },
];

/** All commands, loaded (for the top-level help). */
export const loadCommands = (): Promise<Command[]> => Promise.all(commands.map((c) => c.load()));

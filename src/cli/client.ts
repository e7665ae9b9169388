/**
 * `gatehouse client request`: one request through the outbound secure client (docs/client.md) with the `client`
 * section of the configuration — seed 000's agent-side security block — so an operator can check TLS, credentials
 * and payload encryption towards a service the way the agent will see it.
 */
import { createSecureClient } from '../client/index.js';
import { readFileBounded } from '../core/files.js';
import { configOption, loadCliConfig } from './context.js';
import { usageError } from './token.js';
import type { Command } from './types.js';
import { bool, list, readStdin, str, writeLine } from './types.js';

const MAX_BODY = 16 * 1024 * 1024;

const requestCommand: Command = {
  name: 'request',
  summary: 'send one request with the configured TLS, authentication and encryption; print the response body',
  usage: 'gatehouse client request TARGET [--method M] [--header "Name: value"]... [--data-file F | --data-stdin] [--include]',
  description:
    'TARGET is a URL, or a path resolved against client.url. Exit status 0 for a response below 400, 1 otherwise.\n' +
    'Example:\n  gatehouse client request /logs/ingest --method POST --data-file batch.json --config agent.yaml',
  options: {
    method: { type: 'string', short: 'X', value: 'METHOD', description: 'HTTP method (default GET, or POST with a body)' },
    header: { type: 'string', short: 'H', multiple: true, value: '"NAME: VALUE"', description: 'an extra request header (repeatable)' },
    'data-file': { type: 'string', value: 'FILE', description: 'the request body from a file' },
    'data-stdin': { type: 'boolean', description: 'the request body from stdin' },
    include: { type: 'boolean', short: 'i', description: 'print the status line and response headers first' },
    ...configOption,
  },
  async run(args, ctx) {
    const target = args.positionals[0];
    if (!target) throw usageError('give a URL or a path');
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [i, h] of list(args, 'header').entries()) {
      const colon = h.indexOf(':');
      // Not quoted back: a header missing its colon ("Authorization Bearer …") is usually a credential.
      if (colon < 1) throw usageError(`--header number ${i + 1}: expected "Name: value"`);
      headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
    }
    const file = str(args, 'data-file');
    if (file && bool(args, 'data-stdin')) throw usageError('give --data-file or --data-stdin, not both');
    const body = file ? readFileBounded(file, MAX_BODY) : bool(args, 'data-stdin') ? await readStdin(ctx, MAX_BODY, 'body') : undefined;
    const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
    const client = createSecureClient(cfg.client, { profile: cfg.profile });
    try {
      const method = str(args, 'method');
      const res = await client.request(target, { headers, ...(method ? { method: method.toUpperCase() } : {}), ...(body !== undefined ? { body } : {}) });
      if (bool(args, 'include')) {
        writeLine(ctx.stdout, `HTTP ${res.status}`);
        for (const [k, v] of Object.entries(res.headers)) for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined) writeLine(ctx.stdout, `${k}: ${x}`);
        writeLine(ctx.stdout);
      }
      ctx.stdout.write(res.body);
      return res.status < 400 ? 0 : 1;
    } finally {
      await client.close();
    }
  },
};

export const clientCommand: Command = {
  name: 'client',
  summary: 'the outbound secure client: TLS verification, mTLS, basic/token/OAuth2/header auth, encrypted bodies',
  usage: 'gatehouse client request TARGET [options]',
  subcommands: [requestCommand],
};

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTokenService } from '../../src/authn/index.js';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger, startRecordingUpstream } from './gateway.js';

export interface SecretsGateway {
  url: string;
  /** A bearer token (readonly, tenant acme) the gateway accepts. */
  token: string;
  upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  cfg: GatehouseConfig;
  dir: string;
}

/**
 * A real gateway with token authentication in front of a recording upstream, with `files` written (0600) into the
 * directory `file:` references read (secrets.file_dir). `routes` gets the upstream's URL. Everything is stopped and
 * removed after `fn`, whatever it throws.
 */
export async function withSecretsGateway(
  opts: {
    files?: Record<string, string>;
    routes: (upstreamUrl: string) => Record<string, unknown>[];
    respond?: (req: IncomingMessage, res: ServerResponse, body: string) => void;
    prefix?: string;
  },
  fn: (gw: SecretsGateway) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix ?? 'gh-secrets-gw-'));
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), content, { mode: 0o600 });
  const upstream = await startRecordingUpstream(opts.respond);
  try {
    const cfg = validateConfig({
      state_dir: join(dir, 'state'),
      server: { tls: { enabled: false } },
      routes: opts.routes(upstream.url),
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
      secrets: { file_dir: dir },
    }, { env: {} });
    const gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() });
    try {
      const token = (await openTokenService(cfg, { stateDir: cfg.state_dir }).mint({ agent: 'ci-agent', scopes: 'readonly', tenant: 'acme', ttlMs: 3_600_000 })).token;
      await fn({ url: gw.url, token, upstream, cfg, dir });
    } finally {
      await gw.close(2000);
    }
  } finally {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

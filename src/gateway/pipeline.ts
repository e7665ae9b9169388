import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import type { AuditEmitter, AuditEvent, Exchange, Logger, Principal, Stage } from '../core/types.js';
import type { RateTable } from '../limits/index.js';
import type { JsonRpcErrorBuilder } from './respond.js';

/**
 * The stage pipeline of ARCHITECTURE.md. Each stage is a plain function over the exchange and denies by throwing.
 * Missing stages are skipped, except identify, which the gateway refuses to run without outside development.
 */
export interface Stages {
  identify?: Stage;
  throttle?: Stage;
  /** MCP session binding (mcp-session.ts): a session id not bound to this caller is refused before the body is read. */
  session?: Stage;
  /** Runs on the buffered body before classification (client-encrypted bodies). */
  decrypt?: Stage;
  classify?: Stage;
  authorize?: Stage;
  /** Rate limits that need the classified operation (per MCP tool). */
  throttleOperation?: Stage;
  approve?: Stage;
  transform?: Stage;
}

export interface AuditHandle extends AuditEmitter {
  /** True when emit() resolves only once the record is durable (fsync: always): responses wait for it. */
  readonly waitForDurable: boolean;
  /** Queues a record without waiting for it (no promise); `onError` hears of a record refused or lost. */
  record(event: AuditEvent, onError: (e: Error) => void): void;
  /** False when the log cannot be written; audited operations are then refused (fail closed). */
  healthy(): boolean;
  close(): Promise<void>;
}

export interface Capabilities {
  stages: Stages;
  /** Stages for routes with `auth_required: false` (public, development only): no identity required, no policy. */
  publicStages: Stages;
  audit: AuditHandle;
  auditEvent: (ex: Exchange) => AuditEvent;
  jsonRpcError?: JsonRpcErrorBuilder;
  logger: Logger;
  /** Whether a request must be buffered before the policy stages (client-encrypted bodies). */
  needsBody?: (ex: Exchange, endToEnd: boolean) => boolean;
  /** New connections per client (limits.connection_rate_limit), checked by the connection guard. */
  connectionRate?: RateTable;
  /** Header names the transform stage injects on a route (upstream_auth): a client's header of the same name is dropped. */
  injectedHeaders?: (route: string) => ReadonlySet<string>;
  /** The forms of a route's injected secrets, scrubbed from its response headers. */
  echoedSecrets?: (route: string) => readonly string[];
  /** The upstream answered 401 to a request carrying credentials the gateway injected (an OAuth token to drop). */
  upstreamRefused?: (ex: Exchange) => void;
  /** Hears of each credential revoked (a token's jti, an API key's id): requests still forwarded on it are ended. */
  onRevoked?: (fn: (kind: 'token' | 'api_key', id: string) => void) => void;
  /** Whether a credential is revoked now (the revocation sets the identify stage checks). */
  isRevoked?: (kind: 'token' | 'api_key', id: string) => boolean;
  /** Whether the key that signed the principal's credential still verifies (a retired token signing key does not). */
  keyStillValid?: (principal: Principal) => boolean;
  /** The redactor's text function: upstream error bodies on `error_bodies: redact` routes. */
  redactText: (text: string) => string;
  close(): Promise<void>;
}

/** Calls a stage and awaits it only when it returned a promise (the hot path stays synchronous). */
export function runStage(stage: Stage | undefined, ex: Exchange): void | Promise<void> {
  return stage === undefined ? undefined : stage(ex);
}

/** Reads the request body into memory up to `max` bytes (MCP classification, decryption). 413 past it. */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) return Promise.reject(new GatehouseError('GH_BODY_TOO_LARGE'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    const onData = (c: Buffer) => {
      len += c.length;
      if (len > max) {
        req.off('data', onData);
        req.resume();
        reject(new GatehouseError('GH_BODY_TOO_LARGE'));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, len)));
    req.once('error', () => reject(new GatehouseError('GH_CLIENT_CLOSED', 'The request body could not be read.')));
    req.once('aborted', () => reject(new GatehouseError('GH_CLIENT_CLOSED', 'The request was aborted.')));
  });
}

/** Step i of the pipeline, in order: identify, throttle, session, body, decrypt, classify, authorize, throttleOperation, approve, transform. */
function step(i: number, stages: Stages, ex: Exchange, bodyLimit: number, needsBody: boolean): void | Promise<void> {
  switch (i) {
    case 0:
      return runStage(stages.identify, ex);
    case 1:
      return runStage(stages.throttle, ex);
    case 2:
      return runStage(stages.session, ex);
    case 3:
      return needsBody
        ? readBody(ex.req, bodyLimit).then((b) => {
            ex.body = b;
          })
        : undefined;
    case 4:
      return ex.body !== undefined ? runStage(stages.decrypt, ex) : undefined;
    case 5:
      return runStage(stages.classify, ex);
    case 6:
      return runStage(stages.authorize, ex);
    case 7:
      return runStage(stages.throttleOperation, ex);
    case 8:
      return runStage(stages.approve, ex);
    default:
      return runStage(stages.transform, ex);
  }
}

const STEPS = 10;

function runFrom(i: number, stages: Stages, ex: Exchange, bodyLimit: number, needsBody: boolean): Promise<void> | undefined {
  for (; i < STEPS; i++) {
    const p = step(i, stages, ex, bodyLimit, needsBody);
    if (p) {
      const next = i + 1;
      return p.then(() => runFrom(next, stages, ex, bodyLimit, needsBody));
    }
  }
  return undefined;
}

/**
 * Runs identify → throttle → session → (body) → decrypt → classify → authorize → throttleOperation → approve → transform. Returns undefined when
 * every stage finished synchronously (the common case: no promise, no async frame per request); otherwise a promise
 * for the rest. A stage that throws synchronously throws here: callers treat both the same way.
 */
export function runPipeline(stages: Stages, ex: Exchange, bodyLimit: number, needsBody: boolean): Promise<void> | undefined {
  return runFrom(0, stages, ex, bodyLimit, needsBody);
}

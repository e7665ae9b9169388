import type { IncomingMessage } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import type { AuditEmitter, AuditEvent, Exchange, Logger, Stage } from '../core/types.js';
import type { JsonRpcErrorBuilder } from './respond.js';

/**
 * The stage pipeline of ARCHITECTURE.md. Each stage is a plain function over the exchange and denies by throwing.
 * Missing stages are skipped, except identify, which the gateway refuses to run without outside development.
 */
export interface Stages {
  identify?: Stage;
  throttle?: Stage;
  /** Runs on the buffered body before classification (client-encrypted bodies). */
  decrypt?: Stage;
  classify?: Stage;
  authorize?: Stage;
  approve?: Stage;
  transform?: Stage;
}

export interface AuditHandle extends AuditEmitter {
  /** True when emit() resolves only once the record is durable (fsync: always): responses wait for it. */
  readonly waitForDurable: boolean;
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
    req.once('error', () => reject(new GatehouseError('GH_BAD_REQUEST', 'The request body could not be read.')));
    req.once('aborted', () => reject(new GatehouseError('GH_BAD_REQUEST', 'The request was aborted.')));
  });
}

/** Runs identify → throttle → (body) → decrypt → classify → authorize → approve → transform. */
export async function runPipeline(stages: Stages, ex: Exchange, bodyLimit: number, needsBody: boolean): Promise<void> {
  let p = runStage(stages.identify, ex);
  if (p) await p;
  p = runStage(stages.throttle, ex);
  if (p) await p;
  if (needsBody) ex.body = await readBody(ex.req, bodyLimit);
  if (ex.body !== undefined) {
    p = runStage(stages.decrypt, ex);
    if (p) await p;
  }
  p = runStage(stages.classify, ex);
  if (p) await p;
  p = runStage(stages.authorize, ex);
  if (p) await p;
  p = runStage(stages.approve, ex);
  if (p) await p;
  p = runStage(stages.transform, ex);
  if (p) await p;
}

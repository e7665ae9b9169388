/**
 * Webhook approver (seed 001, defense layer 3: SYSTEMMANAGER_APPROVAL_WEBHOOK). Gatehouse POSTs a signed
 * approval request; the approver answers approve or deny, signed with the same secret, within the timeout.
 *
 * Signature: `X-Gatehouse-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>` with
 * `X-Gatehouse-Timestamp: <unix seconds>`; a timestamp outside the replay window is refused. The request
 * carries a fresh nonce that the answer must echo, so a recorded answer cannot be replayed for another call.
 * Down, slow, unsigned, forged, stale or malformed → no decision (the gate denies, recording why).
 */
import { createHmac } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { parseDuration } from '../core/durations.js';
import type { Clock } from '../core/clock.js';
import { constantTimeEqualBytes } from '../core/compare.js';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { safeJsonParse } from '../core/safe.js';
import type { Logger } from '../core/types.js';
import type { ApprovalRecord } from './types.js';
import { connectionErrorCode, readBounded, urlHost } from '../core/net.js';

export const SIGNATURE_HEADER = 'x-gatehouse-signature';
export const TIMESTAMP_HEADER = 'x-gatehouse-timestamp';
export const NONCE_HEADER = 'x-gatehouse-nonce';

/** `v1=<hex>` over `${timestamp}.${body}`. */
export function signPayload(secret: string | Uint8Array, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Undefined when the signature verifies and the timestamp is fresh; else a reason (never containing the secret). */
export function verifyPayload(
  secret: string | Uint8Array,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  body: string,
  nowMs: number,
  replayWindowMs: number,
): string | undefined {
  if (!timestampHeader || !/^\d{1,12}$/.test(timestampHeader)) return 'missing or malformed timestamp';
  if (!signatureHeader || !/^v1=[0-9a-f]{64}$/.test(signatureHeader)) return 'missing or malformed signature';
  const ts = Number(timestampHeader);
  if (Math.abs(nowMs - ts * 1000) > replayWindowMs) return 'timestamp outside the replay window';
  const expected = Buffer.from(signPayload(secret, ts, body).slice(3), 'hex');
  const given = Buffer.from(signatureHeader.slice(3), 'hex');
  return constantTimeEqualBytes(expected, given) ? undefined : 'bad signature';
}

/** The JSON body of an approval request. */
export interface WebhookApprovalRequest {
  type: 'approval.request';
  approval_id: string;
  nonce: string;
  /** `realm`: how the principal authenticated (method, and issuer for JWT); ids are unique only within one. */
  principal: { id: string; type?: string; tenant?: string; realm?: string };
  kind: 'tool' | 'http';
  /** The gateway route the call came through (its name in the config). */
  route?: string;
  /** The tenant the operation acts in, when it is not the principal's. */
  operation_tenant?: string;
  subject: string;
  /** The whole arguments, secrets redacted per value (docs/approvals.md § What the approver sees). */
  args: unknown;
  /** How many values in args (and the subject) were redacted. */
  args_redacted: number;
  /** HMAC-SHA256 of the exact arguments under the gateway's approval key: equal for identical calls, useless for guessing. */
  args_hmac: string;
  risk_level: string;
  requested_at: string;
  expires_at: string;
}

/** The JSON body of an approver's answer. */
export interface WebhookApprovalAnswer {
  approval_id: string;
  nonce: string;
  decision: 'approve' | 'deny';
  approver?: string;
  reason?: string;
  /** Approve for a window, e.g. "30m". */
  window?: string;
}

export interface WebhookDecision {
  decision: 'approve' | 'deny';
  approver: string;
  reason: string | undefined;
  windowMs: number | undefined;
}

export interface WebhookApproverOptions {
  url: string;
  secret: string | Uint8Array;
  timeoutMs: number;
  replayWindowMs: number;
  maxResponseBytes: number;
  maxWindowMs: number;
  clock: Clock;
  /** Connections to the approver (approval.webhook.tls: private CA, client certificate, pins); default undici's global one. */
  dispatcher?: Dispatcher;
  /** Where a failed connection is reported (one warn line naming the client, the host and the error code). */
  logger?: Logger;
}

/** `detail` (the connection error's code) goes to the audit record and the log, not to the caller. */
function unavailable(reason: string, detail?: string): GatehouseError {
  return new GatehouseError('GH_APPROVAL_UNAVAILABLE', `Approval unavailable: the approval webhook ${reason}; the operation is denied`, {
    data: { reason },
    ...(detail !== undefined ? { detail } : {}),
  });
}


export class WebhookApprover {
  /** host[:port] only: the path or query may carry a token. */
  readonly #host: string;

  constructor(readonly opts: WebhookApproverOptions) {
    // An invalid URL fails at the request, as unreachable.
    this.#host = urlHost(opts.url) ?? '';
  }

  /** Closes the connections of the dispatcher built for this webhook (an https url's TLS agent). */
  async close(): Promise<void> {
    await this.opts.dispatcher?.close();
  }

  /** Asks the approver. Throws GH_APPROVAL_UNAVAILABLE with the reason when no valid answer comes. */
  async ask(rec: ApprovalRecord, signal?: AbortSignal): Promise<WebhookDecision> {
    const nonce = randomId(16);
    const payload: WebhookApprovalRequest = {
      type: 'approval.request',
      approval_id: rec.id,
      nonce,
      principal: {
        id: rec.principal,
        ...(rec.principal_type ? { type: rec.principal_type } : {}),
        ...(rec.tenant ? { tenant: rec.tenant } : {}),
        ...(rec.principal_realm ? { realm: rec.principal_realm } : {}),
      },
      kind: rec.kind,
      ...(rec.route !== undefined ? { route: rec.route } : {}),
      ...(rec.operation_tenant !== undefined ? { operation_tenant: rec.operation_tenant } : {}),
      subject: rec.subject,
      args: rec.args,
      args_redacted: rec.args_redacted ?? 0,
      args_hmac: rec.args_hmac,
      risk_level: rec.risk_level,
      requested_at: new Date(rec.created_at).toISOString(),
      expires_at: new Date(rec.expires_at).toISOString(),
    };
    const body = JSON.stringify(payload);
    const ts = Math.floor(this.opts.clock.now() / 1000);
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let text: string;
    let headers: Record<string, string | string[] | undefined>;
    try {
      const res = await request(this.opts.url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(ts),
          [NONCE_HEADER]: nonce,
          [SIGNATURE_HEADER]: signPayload(this.opts.secret, ts, body),
        },
        signal: combined,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      });
      headers = res.headers;
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw unavailable(`answered HTTP ${res.statusCode}`);
      }
      text = (await readBounded(res.body, this.opts.maxResponseBytes, () => unavailable('answer is too large'))).toString('utf8');
    } catch (e) {
      if (e instanceof GatehouseError) throw e;
      if (timeout.aborted) throw unavailable(`did not answer within ${this.opts.timeoutMs} ms`);
      if (signal?.aborted) throw unavailable('request was abandoned by the client');
      // A refused TLS handshake (unknown CA, pin mismatch, client certificate refused) is unreachable too: denied.
      const code = connectionErrorCode(e);
      this.opts.logger?.warn({ client: 'approval webhook', host: this.#host, code }, 'approval webhook unreachable (connection or TLS handshake failed): the operation is denied');
      throw unavailable('is unreachable', code);
    }
    return this.#verifyAnswer(text, headers, rec.id, nonce);
  }

  #verifyAnswer(text: string, headers: Record<string, string | string[] | undefined>, id: string, nonce: string): WebhookDecision {
    const h = (name: string): string | undefined => {
      const v = headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const problem = verifyPayload(this.opts.secret, h(TIMESTAMP_HEADER), h(SIGNATURE_HEADER), text, this.opts.clock.now(), this.opts.replayWindowMs);
    if (problem) throw unavailable(`answer failed verification (${problem})`);
    let answer: Partial<WebhookApprovalAnswer>;
    try {
      answer = safeJsonParse(text, this.opts.maxResponseBytes) as Partial<WebhookApprovalAnswer>;
    } catch {
      throw unavailable('answer is not JSON');
    }
    if (typeof answer !== 'object' || answer === null) throw unavailable('answer is not a JSON object');
    if (answer.approval_id !== id || answer.nonce !== nonce) throw unavailable('answer is for another request (approval id or nonce mismatch)');
    if (answer.decision !== 'approve' && answer.decision !== 'deny') throw unavailable('answer has no decision');
    let windowMs: number | undefined;
    if (answer.window !== undefined) {
      try {
        windowMs = Math.min(parseDuration(String(answer.window)), this.opts.maxWindowMs);
      } catch {
        throw unavailable('answer has an invalid window');
      }
    }
    return {
      decision: answer.decision,
      approver: typeof answer.approver === 'string' && answer.approver !== '' ? `webhook:${answer.approver.slice(0, 128)}` : 'webhook',
      reason: typeof answer.reason === 'string' ? answer.reason : undefined,
      windowMs,
    };
  }
}

import { z } from 'zod';
import { bytes, duration, filePath, section, timerDuration } from './common.js';
import { upstreamTlsSection } from './server.js';
import { isHttpsUrl } from '../../core/net.js';

/**
 * How an operation that needs approval is approved (seed 001, defense layer 3):
 * - auto: the webhook when `webhook.url` is set, else denied ("no approver configured");
 * - webhook: POST a signed request to webhook.url; queue: the built-in queue (CLI / admin API); deny: always refused.
 */
export const APPROVAL_MODES = ['auto', 'webhook', 'queue', 'deny'] as const;
const mode = z.enum(APPROVAL_MODES);

const webhookShape = {
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** HMAC-SHA256 key for requests and answers (at least 32 characters); or secret_file. */
  secret: z.string().min(32, 'the webhook secret must be at least 32 characters').optional(),
  secret_file: filePath().optional(),
  /** Time for the approver to answer; a slower approver means deny. */
  timeout: timerDuration('30s'),
  /** Signed timestamps older or newer than this are refused (replay). */
  replay_window: duration('5m'),
  max_response_size: bytes('64kb'),
  /** TLS towards an https approver, as routes[].tls: a private CA, a client certificate (mTLS), key pins. */
  tls: upstreamTlsSection,
};
const webhookSection = z
  .strictObject(webhookShape)
  // Pins on a plain-http (or absent) URL would look enforced and never be checked.
  .refine((w) => w.tls.pin_sha256 === undefined || isHttpsUrl(w.url), {
    path: ['tls', 'pin_sha256'],
    message: 'pins are checked on an https webhook url only: approval.webhook.url is not https',
  })
  .prefault({} as z.input<z.ZodObject<typeof webhookShape, z.core.$strict>>);

/** The 'approval' section (issue 4). */
export const approvalSection = section({
  /** Risk levels that always need approval, besides tools marked requires_approval (seed 001: critical). */
  require_for: z.array(z.enum(['low', 'moderate', 'high', 'critical'])).default(['critical']),
  /** Default mode for every operation needing approval. */
  mode: mode.default('auto'),
  /** Mode per risk level (overrides `mode`). */
  modes: section({
    low: mode.optional(),
    moderate: mode.optional(),
    high: mode.optional(),
    critical: mode.optional(),
  }),
  /** Mode per tool (overrides `modes`); a tool not in the registry is a config error. */
  tools: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/), mode).default({}),
  webhook: webhookSection,
  /**
   * Arguments (an HTTP body, tool arguments) larger than this cannot be approved: approvers are shown them whole or
   * not at all. At least the largest body an approval-gated route forwards, to approve every such call.
   */
  max_shown_args: bytes('64kb').refine((n) => n >= 1024 && n <= 16 * 1024 * 1024, 'from 1kb to 16mb'),
  /** The key of the digests approvals carry and are bound by; default <state_dir>/approval-hmac.key (created once). */
  hmac_key_file: filePath().optional(),
  /** Requests one principal may have waiting for a decision at once; more are refused (429). */
  max_pending_per_principal: z.number().int().min(1).max(10_000).default(20),
  /** After a denial, an identical call is refused with that denial for this long instead of asking again (0: never). */
  deny_cooldown: duration('5m'),
  queue: section({
    /** How long a call is held waiting for a decision; 0 answers at once with the approval id. */
    hold_timeout: timerDuration('30s'),
    /** How long a request stays approvable, and an approved single-use grant usable. */
    approval_ttl: duration('1h'),
    poll_interval: timerDuration('250ms'),
    /**
     * Calls of one principal held waiting at once in this process (each keeps its connection and polls the store every
     * poll_interval); more are answered at once with the approval id, as with hold_timeout 0.
     */
    max_held_per_principal: z.number().int().min(0).max(10_000).default(20),
    /** Longest window an approver may grant (`--window`). */
    max_window: duration('24h'),
  }),
});
export type ApprovalConfig = z.infer<typeof approvalSection>;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

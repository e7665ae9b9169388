import { rawHeaderValues } from '../core/net.js';
import type { Exchange, TailscaleIdentity } from '../core/types.js';
import { headerValue } from './method.js';

export interface TrustedIdentityConfig {
  enabled: boolean;
  user_header: string;
  name_header: string;
  node_header?: string | undefined;
  tags_header?: string | undefined;
  tailnet_header?: string | undefined;
  tailnet?: string | undefined;
}

// Printable, no control characters, bounded: these values go into the audit record and logs.
const SAFE_VALUE = /^[^\x00-\x1f\x7f]{1,256}$/;
const TAG = /^tag:[A-Za-z0-9-]{1,64}$/;

function clean(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  return SAFE_VALUE.test(v) ? v : undefined;
}

/**
 * An identity header present more than once means the proxy appended to what the client sent instead of replacing
 * it: Node joins the lines (`victim@corp, mallory@corp`), and neither can be believed.
 */
function repeated(ex: Exchange, cfg: TrustedIdentityConfig): boolean {
  const raw = ex.req.rawHeaders;
  return Array.isArray(raw) && identityHeaderNames(cfg).some((name) => rawHeaderValues(raw, name).length > 1);
}

/** The identity header names configured (lower case): believed from trusted proxies only, and never forwarded from anyone else. */
export function identityHeaderNames(cfg: TrustedIdentityConfig): string[] {
  return [cfg.user_header, cfg.name_header, cfg.node_header, cfg.tags_header, cfg.tailnet_header].filter((n): n is string => n !== undefined).map((n) => n.toLowerCase());
}

/**
 * Identity headers set by a trusted front proxy (`tailscale serve` sets Tailscale-User-Login and
 * Tailscale-User-Name). They are believed only when the TCP peer is one of server.trusted_proxies; from anyone else
 * they are ignored, so a client cannot claim a tailnet identity by sending the header itself (seed 001).
 * Returns the identity (also stored in ex.network.tailscale for the audit record), or undefined.
 */
export function trustedProxyIdentity(ex: Exchange, cfg: TrustedIdentityConfig, isTrustedPeer: (ip: string) => boolean): TailscaleIdentity | undefined {
  if (!cfg.enabled || !isTrustedPeer(ex.network.peer_ip)) return undefined;
  if (repeated(ex, cfg)) return undefined;
  const user = clean(headerValue(ex, cfg.user_header.toLowerCase()));
  const node = cfg.node_header ? clean(headerValue(ex, cfg.node_header.toLowerCase())) : undefined;
  if (user === undefined && node === undefined) return undefined;
  const id: TailscaleIdentity = {};
  if (user !== undefined) id.tailscale_user = user;
  const name = clean(headerValue(ex, cfg.name_header.toLowerCase()));
  if (name !== undefined) id.tailscale_name = name;
  if (node !== undefined) id.tailscale_node = node;
  if (cfg.tags_header) {
    const tags = clean(headerValue(ex, cfg.tags_header.toLowerCase()));
    if (tags !== undefined) id.tailscale_tags = tags.split(/[,\s]+/).filter((t) => TAG.test(t)).slice(0, 32);
  }
  const tailnet = (cfg.tailnet_header ? clean(headerValue(ex, cfg.tailnet_header.toLowerCase())) : undefined) ?? cfg.tailnet;
  if (tailnet !== undefined) id.tailnet = tailnet;
  ex.network.tailscale = id;
  return id;
}

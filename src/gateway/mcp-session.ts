/**
 * MCP session ids bound to the principal that opened them (MCP specification, security best practices, "Session
 * Hijacking": session ids must be bound to user-specific information and never serve as authentication).
 *
 * Stateless: the id an upstream issues (`X`) reaches the client as `X.TAG`, TAG = base64url(HMAC-SHA256(key, context))
 * cut to 16 bytes, the context naming the route, the principal (method, id, tenant, and for jwt the issuer) and X.
 * A request presenting an id is forwarded with X only when TAG verifies for the caller and the route; otherwise it is
 * refused before anything is forwarded with 404 GH_MCP_SESSION_UNKNOWN, which tells an MCP client to start a new
 * session. A new key (rotation) is the same: every client re-initializes once. docs/gateway.md § MCP sessions.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { rawHeaderValues } from '../core/net.js';
import type { Exchange, Principal, Stage } from '../core/types.js';
import { loadOrCreateKeyFile, readKeyFile } from '../crypto/index.js';

/** Longest upstream session id accepted; MCP sets no limit, so this only bounds the work and the header. */
export const MAX_UPSTREAM_SESSION_ID = 1024;
const TAG_BYTES = 16;
/** base64url of 16 bytes, unpadded. */
const TAG_CHARS = 22;
const TAG_RE = /^[A-Za-z0-9_-]{22}$/;
/** MCP transports §Session Management: a session id is visible ASCII only (0x21–0x7E). */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
/** Changing it (or the encoding below) ends every bound session, as a new key does. */
const CONTEXT_LABEL = 'gatehouse mcp-session v1';

/** What a session id is bound to. Fields are length-prefixed in the MAC input, so no two bindings read alike. */
export interface SessionBinding {
  readonly route: string;
  readonly method: string;
  readonly id: string;
  readonly tenant: string;
  /** The JWT issuer (principal ids are unique only within one issuer); '' for other methods. */
  readonly issuer: string;
}

/** The binding of `principal` on `route`. No principal (no identify stage, development) binds as anonymous. */
export function sessionBinding(principal: Principal | undefined, route: string): SessionBinding {
  if (principal === undefined) return { route, method: 'none', id: 'anonymous', tenant: '', issuer: '' };
  const issuer = principal.attributes['issuer'];
  return {
    route,
    method: principal.method,
    id: principal.id,
    tenant: principal.tenant ?? '',
    issuer: principal.method === 'jwt' && typeof issuer === 'string' ? issuer : '',
  };
}

function tagOf(key: Uint8Array, b: SessionBinding, upstreamId: string): string {
  const mac = createHmac('sha256', key);
  for (const field of [CONTEXT_LABEL, b.route, b.method, b.id, b.tenant, b.issuer, upstreamId]) {
    const bytes = Buffer.from(field, 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(bytes.length);
    mac.update(len).update(bytes);
  }
  return mac.digest().subarray(0, TAG_BYTES).toString('base64url');
}

/** Whether `id` is a session id the gateway will bind: 1–1024 visible ASCII characters. */
export function isUpstreamSessionId(id: string): boolean {
  return id.length <= MAX_UPSTREAM_SESSION_ID && VISIBLE_ASCII.test(id);
}

/**
 * The id the client gets for the upstream's `upstreamId`: `upstreamId.TAG`. An id MCP does not allow (not visible
 * ASCII, empty) or one past 1024 characters is an upstream fault, GH_UPSTREAM_PROTOCOL, never passed on.
 */
export function sealSessionId(key: Uint8Array, binding: SessionBinding, upstreamId: string): string {
  if (!isUpstreamSessionId(upstreamId)) throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'invalid Mcp-Session-Id from upstream' });
  return `${upstreamId}.${tagOf(key, binding, upstreamId)}`;
}

export type OpenedSession = { ok: true; upstreamId: string } | { ok: false; reason: 'mcp_session_malformed' | 'mcp_session_mismatch' };

/**
 * The upstream's id inside a presented one, when its tag verifies for `binding`. The tag is the part after the last
 * dot (X may hold dots); it is compared as text, so no other spelling of the same bytes passes.
 */
export function openSessionId(key: Uint8Array, binding: SessionBinding, presented: string): OpenedSession {
  const dot = presented.lastIndexOf('.');
  if (dot <= 0 || presented.length - dot - 1 !== TAG_CHARS || !isUpstreamSessionId(presented.slice(0, dot)) || !TAG_RE.test(presented.slice(dot + 1))) {
    return { ok: false, reason: 'mcp_session_malformed' };
  }
  const upstreamId = presented.slice(0, dot);
  const expected = Buffer.from(tagOf(key, binding, upstreamId), 'latin1');
  const given = Buffer.from(presented.slice(dot + 1), 'latin1');
  return timingSafeEqual(expected, given) ? { ok: true, upstreamId } : { ok: false, reason: 'mcp_session_mismatch' };
}

/** Where a gateway keeps its generated key, when authz.mcp.sessions.key_file names none. */
export const generatedSessionKeyPath = (stateDir: string): string => join(stateDir, 'keys', 'mcp-session.key');

/**
 * The binding key: authz.mcp.sessions.key_file (32 bytes as hex or base64, mode 0600: one key for several gateway
 * hosts behind a load balancer), else one generated into the state directory. Created whole under its final name
 * (createFileOnce), so workers starting together read the same key.
 */
export function loadSessionKey(keyFile: string | undefined, stateDir: string): Buffer {
  return keyFile !== undefined ? readKeyFile(keyFile) : loadOrCreateKeyFile(generatedSessionKeyPath(stateDir));
}

/** Set on an MCP route's exchange by the session stage: the proxy then forwards only the verified id and seals answers. */
export const MCP_SESSION: unique symbol = Symbol('gatehouse.mcpSession');
export interface SessionState {
  readonly key: Buffer;
  /** The id the client presented (verified) and the upstream's id inside it; absent on a request without one. */
  presented?: string;
  upstreamId?: string;
  /** The query the upstream receives when the request carried a bound session parameter (the legacy SSE transport). */
  upstreamQuery?: string;
}
export type SessionExchange = Exchange & { [MCP_SESSION]?: SessionState };

function refuse(ex: Exchange, reason: string): GatehouseError {
  // The presented id is credential-like: only the reason is recorded (audit metadata), never the value.
  ex.meta['mcp_session_refused'] = reason;
  return new GatehouseError('GH_MCP_SESSION_UNKNOWN', undefined, { detail: reason });
}

/**
 * The session stage (after identify and throttle, before the body is read). Only MCP routes; a request without
 * Mcp-Session-Id costs a scan of its raw headers. Two Mcp-Session-Id lines are refused: picking one would let the
 * gateway check one and an upstream use the other.
 */
export function createSessionStage(key: Buffer): Stage {
  return (ex: Exchange): void => {
    if (ex.route?.kind !== 'mcp') return;
    const state: SessionState = { key };
    (ex as SessionExchange)[MCP_SESSION] = state;
    bindQuerySession(ex, state);
    const values = rawHeaderValues(ex.req.rawHeaders, 'mcp-session-id');
    if (values.length === 0) return;
    if (values.length > 1) {
      ex.meta['mcp_session_refused'] = 'mcp_session_duplicate';
      throw new GatehouseError('GH_HEADER_INVALID', 'Mcp-Session-Id must appear once.', { detail: 'mcp_session_duplicate' });
    }
    const presented = values[0] as string;
    const opened = openSessionId(key, sessionBinding(ex.principal, ex.route.name), presented);
    if (!opened.ok) throw refuse(ex, opened.reason);
    state.presented = presented;
    state.upstreamId = opened.upstreamId;
    ex.upstreamHeaders['mcp-session-id'] = opened.upstreamId;
  };
}

/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05) carries its session in the query of the endpoint its GET stream
 * announces: the SDK's `sessionId`, FastMCP's `session_id`. A parameter counts under every spelling some server reads
 * as one of them (parameterName below): decoded (`session%49d`), in any case (ASP.NET matches query names ignoring
 * case, as the C# SDK does), with a `[…]` suffix (Express's qs reads `sessionId[]` and `sessionId[0]`), with `.` or a
 * space for `_` (PHP), and `;` separates parameters as `&` does (Rack 2, Python before 3.9.2).
 */
const QUERY_SESSION_NAMES: ReadonlySet<string> = new Set(['sessionid', 'session_id']);

/** Longest query examined for a session parameter (the request line is bounded by the header limit anyway). */
const MAX_SESSION_QUERY = 16 * 1024;

/** `+` is a space in a query (application/x-www-form-urlencoded, as URLSearchParams reads it). */
function decodeQueryPart(part: string): string {
  const plus = part.includes('+') ? part.replace(/\+/g, ' ') : part;
  return plus.includes('%') ? decodeURIComponent(plus) : plus;
}

/**
 * A decoded parameter name as the most lenient server would read it: up to a `[`, `.` and space as `_`, case folded
 * through upper case first (so the long s `ſ` and the Kelvin sign fold as .NET's ordinal-ignore-case folds them).
 */
function parameterName(decoded: string): string {
  const bracket = decoded.indexOf('[');
  const base = bracket < 0 ? decoded : decoded.slice(0, bracket);
  return base.replace(/[. ]/g, '_').toUpperCase().toLowerCase();
}

/** One parameter of a raw query: where it lies (`start`..`end`) and where its value starts (`eq`, or -1). */
interface QueryPart {
  start: number;
  end: number;
  eq: number;
}

/**
 * The session parameters of a raw query (without `?`), split at `&` and `;`: each part whose name reads as a session
 * parameter (parameterName), with its decoded value. Throws URIError on malformed percent-encoding.
 */
export function querySessionParams(query: string): { parts: QueryPart[]; values: string[] } {
  const parts: QueryPart[] = [];
  const values: string[] = [];
  let start = 0;
  for (let i = 0; i <= query.length; i++) {
    const c = query.charCodeAt(i);
    if (i < query.length && c !== 38 /* & */ && c !== 59 /* ; */) continue;
    const raw = query.slice(start, i);
    const eq = raw.indexOf('=');
    if (QUERY_SESSION_NAMES.has(parameterName(decodeQueryPart(eq < 0 ? raw : raw.slice(0, eq))))) {
      parts.push({ start, end: i, eq: eq < 0 ? -1 : start + eq });
      values.push(eq < 0 ? '' : decodeQueryPart(raw.slice(eq + 1)));
    }
    start = i + 1;
  }
  return { parts, values };
}

/** `query` with the value of `part` replaced by `value` (encoded), its name written as the client or upstream wrote it. */
function withValue(query: string, part: QueryPart, value: string): string {
  const name = query.slice(part.start, part.eq < 0 ? part.end : part.eq);
  return `${query.slice(0, part.start)}${name}=${encodeURIComponent(value)}${query.slice(part.end)}`;
}

/**
 * The query stage of the binding: a request whose query names a session (the POSTs of the legacy SSE transport) is
 * forwarded with the upstream's id only when the bound id verifies for the caller and the route, as Mcp-Session-Id.
 * Two session parameters, or one that cannot be decoded, are refused (400): the gateway never picks one.
 */
export function bindQuerySession(ex: Exchange, state: SessionState): void {
  const query = ex.query;
  if (query === '') return;
  let found: ReturnType<typeof querySessionParams>;
  try {
    if (query.length > MAX_SESSION_QUERY) throw new URIError('query too long');
    found = querySessionParams(query);
  } catch {
    ex.meta['mcp_session_refused'] = 'mcp_session_malformed';
    throw new GatehouseError('GH_BAD_REQUEST', 'The query string is not well-formed.', { detail: 'mcp_session_query_malformed' });
  }
  if (found.parts.length === 0) return;
  if (found.parts.length > 1) {
    ex.meta['mcp_session_refused'] = 'mcp_session_duplicate';
    throw new GatehouseError('GH_BAD_REQUEST', 'The session parameter must appear once.', { detail: 'mcp_session_duplicate' });
  }
  const opened = openSessionId(state.key, sessionBinding(ex.principal, ex.route?.name ?? ''), found.values[0] as string);
  if (!opened.ok) throw refuse(ex, opened.reason);
  state.upstreamQuery = withValue(query, found.parts[0] as QueryPart, opened.upstreamId);
}

/**
 * The announced endpoint's query with its session parameter sealed for `binding` (the answer side of
 * bindQuerySession). Undefined when it names no session; two session parameters are an upstream fault.
 */
export function sealQuerySession(query: string, key: Uint8Array, binding: SessionBinding): string | undefined {
  let found: ReturnType<typeof querySessionParams>;
  try {
    found = querySessionParams(query);
  } catch {
    throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'malformed session endpoint from upstream' });
  }
  if (found.parts.length === 0) return undefined;
  if (found.parts.length > 1) throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'duplicate session parameter from upstream' });
  return withValue(query, found.parts[0] as QueryPart, sealSessionId(key, binding, found.values[0] as string));
}

/**
 * Seals the upstream's Mcp-Session-Id in a flat response header list (in place). The id the request presented comes
 * back as presented (no second MAC). Two of them is an upstream fault: the client would keep either.
 */
export function sealResponseSession(flat: string[], ex: SessionExchange): void {
  const state = ex[MCP_SESSION];
  if (state === undefined) return;
  let at = -1;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] !== 'mcp-session-id') continue;
    if (at >= 0) throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'duplicate Mcp-Session-Id from upstream' });
    at = i + 1;
  }
  if (at < 0) return;
  const upstreamId = flat[at] as string;
  flat[at] = state.upstreamId === upstreamId && state.presented !== undefined ? state.presented : sealSessionId(state.key, sessionBinding(ex.principal, ex.route?.name ?? ''), upstreamId);
}

/**
 * One error type for the whole project (house style: jose, fastify).
 *
 * Every code lives in ERROR_CODES with its HTTP status and a public message.
 * docs/errors.md lists every code; test/core/errors.test.ts fails when one is missing.
 *
 * Rule: the `message` of a GatehouseError is shown to operators and, for 4xx, to clients.
 * It must never contain a token, key, password or any request secret.
 */

interface CodeInfo {
  readonly status: number;
  readonly message: string;
}

export const ERROR_CODES = {
  // --- core / config ---------------------------------------------------------
  GH_CONFIG_INVALID: { status: 500, message: 'The configuration is invalid.' },
  GH_CONFIG_MISSING_VAR: { status: 500, message: 'A configuration variable is not set.' },
  GH_CONFIG_FILE_UNREADABLE: { status: 500, message: 'A file named in the configuration cannot be read.' },
  GH_CONFIG_PRODUCTION_REFUSED: { status: 500, message: 'The configuration holds settings refused in production.' },
  GH_USAGE: { status: 400, message: 'The command was used wrongly.' },
  GH_INTERNAL: { status: 500, message: 'Internal error.' },
  GH_LISTEN_FAILED: { status: 500, message: 'The gateway cannot listen on its address.' },

  // --- gateway: listen / parse / forward --------------------------------------
  GH_NOT_FOUND: { status: 404, message: 'No route matches this request.' },
  GH_BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  GH_PATH_INVALID: { status: 400, message: 'The request path is invalid.' },
  GH_HEADER_INVALID: { status: 400, message: 'A request header is invalid.' },
  GH_METHOD_NOT_ALLOWED: { status: 405, message: 'The request method is not allowed.' },
  // routes[].method_override: a `_method` parameter would run the request as another method than the one authorized.
  GH_METHOD_OVERRIDE: { status: 400, message: 'A method override (_method parameter) is not accepted: send the request with the method it means, uncompressed, in UTF-8.' },
  // RFC 9110 §15.5.20: the Host names no name this gateway serves (DNS rebinding, docs/gateway.md § Allowed hosts).
  GH_HOST_NOT_ALLOWED: { status: 421, message: 'This gateway does not serve the requested host.' },
  GH_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  GH_BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  GH_REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive.' },
  // nginx's 499: nothing is sent (the client is gone); the status is what the audit record and metrics say.
  GH_CLIENT_CLOSED: { status: 499, message: 'The client closed the connection before the answer.' },
  GH_TOO_MANY_CONNECTIONS: { status: 503, message: 'Too many connections.' },
  GH_SHUTTING_DOWN: { status: 503, message: 'The gateway is shutting down.' },
  GH_UPSTREAM_UNAVAILABLE: { status: 502, message: 'The upstream service is unavailable.' },
  GH_UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream service did not answer in time.' },
  GH_UPSTREAM_BUSY: { status: 503, message: 'All connections to the upstream service are busy; retry shortly.' },
  GH_UPSTREAM_PROTOCOL: { status: 502, message: 'The upstream service sent an invalid response.' },
  GH_UPSTREAM_ERROR: { status: 502, message: 'The upstream service answered with an error (its body was replaced).' },
  GH_NOT_READY: { status: 503, message: 'The gateway is not ready.' },

  // --- tls -------------------------------------------------------------------
  GH_TLS_CERT_INVALID: { status: 500, message: 'The TLS certificate cannot be used.' },
  GH_TLS_KEY_MISMATCH: { status: 500, message: 'The TLS private key does not match the certificate.' },
  GH_TLS_CERT_EXPIRED: { status: 500, message: 'The TLS certificate is outside its validity period.' },
  GH_TLS_CRL_INVALID: { status: 500, message: 'The certificate revocation list cannot be used.' },
  GH_TLS_CLIENT_CERT_REQUIRED: { status: 401, message: 'A client certificate is required.' },
  GH_TLS_CLIENT_NOT_ALLOWED: { status: 403, message: 'The client certificate is not allowed.' },

  // --- authn -----------------------------------------------------------------
  GH_AUTH_REQUIRED: { status: 401, message: 'Authentication is required.' },
  GH_AUTH_AMBIGUOUS: { status: 400, message: 'The request carries credentials for more than one method.' },
  GH_TOKEN_MALFORMED: { status: 401, message: 'The token is malformed.' },
  GH_TOKEN_INVALID: { status: 401, message: 'The token is invalid.' },
  GH_TOKEN_EXPIRED: { status: 401, message: 'The token has expired.' },
  GH_TOKEN_NOT_YET_VALID: { status: 401, message: 'The token is not valid yet.' },
  GH_TOKEN_REVOKED: { status: 401, message: 'The token has been revoked.' },
  GH_TOKEN_TTL_EXCEEDED: { status: 400, message: 'The requested lifetime exceeds the maximum for these scopes.' },
  GH_CREDENTIALS_INVALID: { status: 401, message: 'The credentials are invalid.' },

  // --- authz -----------------------------------------------------------------
  GH_FORBIDDEN: { status: 403, message: 'The operation is not allowed.' },
  GH_NETWORK_NOT_ALLOWED: { status: 403, message: 'Requests are accepted only from allowed network identities.' },
  GH_SCOPE_MISSING: { status: 403, message: 'A required scope is missing.' },
  GH_TENANT_UNKNOWN: { status: 403, message: 'The tenant is unknown.' },
  GH_TENANT_MISMATCH: { status: 403, message: 'The principal may not act in this tenant.' },
  GH_TOOL_UNKNOWN: { status: 403, message: 'The tool is unknown.' },
  // MCP streamable HTTP answers an unknown session with 404, which tells the client to start a new one.
  GH_MCP_SESSION_UNKNOWN: { status: 404, message: 'The MCP session is unknown for this principal; start a new session.' },
  GH_ARGUMENT_REFUSED: { status: 403, message: 'An argument is outside what the policy allows.' },
  GH_JSONRPC_INVALID: { status: 400, message: 'The JSON-RPC message is invalid.' },

  // --- approval --------------------------------------------------------------
  GH_APPROVAL_PENDING: { status: 403, message: 'The operation is waiting for approval.' },
  GH_APPROVAL_DENIED: { status: 403, message: 'The operation was denied by an approver.' },
  GH_APPROVAL_EXPIRED: { status: 403, message: 'The approval has expired.' },
  GH_APPROVAL_UNAVAILABLE: { status: 403, message: 'No approver is available; critical operations are denied.' },
  GH_APPROVAL_NOT_FOUND: { status: 404, message: 'No such approval.' },
  GH_APPROVAL_ALREADY_DECIDED: { status: 409, message: 'The approval has already been decided.' },

  // --- audit -----------------------------------------------------------------
  GH_AUDIT_UNAVAILABLE: { status: 503, message: 'The audit log cannot be written; the operation was refused.' },
  GH_AUDIT_CHAIN_BROKEN: { status: 500, message: 'The audit chain does not verify.' },

  // --- crypto ----------------------------------------------------------------
  GH_CRYPTO_DECRYPT_FAILED: { status: 400, message: 'The message could not be decrypted.' },
  GH_CRYPTO_MALFORMED: { status: 400, message: 'The encrypted message is malformed.' },
  GH_CRYPTO_TRUNCATED: { status: 400, message: 'The encrypted stream is truncated.' },
  GH_CRYPTO_KEY_UNKNOWN: { status: 400, message: 'The message names an unknown key.' },
  GH_CRYPTO_KEY_RETIRED: { status: 400, message: 'The message was encrypted with a retired key.' },
  GH_CRYPTO_KEY_INVALID: { status: 500, message: 'The key is invalid.' },
  GH_CRYPTO_KEY_SHREDDED: { status: 410, message: 'The key was destroyed; the data is unrecoverable.' },
  GH_KEY_FILE_PERMISSIONS: { status: 500, message: 'A key file is readable by other users.' },
  GH_KEY_EXISTS: { status: 409, message: 'A key file already exists and is not replaced.' },
  GH_CRYPTO_KEY_EXHAUSTED: { status: 503, message: 'The key reached its encryption limit and could not be rotated.' },
  GH_CRYPTO_EXPIRED: { status: 400, message: 'The encrypted token has expired.' },
  GH_CRYPTO_REQUIRED: { status: 400, message: 'This route accepts only encrypted request bodies.' },

  // --- backup ----------------------------------------------------------------
  GH_BACKUP_INVALID: { status: 400, message: 'The backup is malformed or fails its checks.' },
  GH_BACKUP_KEY_MISMATCH: { status: 400, message: 'The backup was made with another key.' },
  GH_BACKUP_FAILED: { status: 500, message: 'The backup could not be made.' },
  GH_BACKUP_TARGET_EXISTS: { status: 409, message: 'The restore target already holds state.' },
  GH_BACKUP_TARGET_BUSY: { status: 409, message: 'A running process uses the restore target.' },

  // --- redact ----------------------------------------------------------------
  GH_REDACT_RULE_UNSAFE: { status: 500, message: 'A redaction rule is not safe to run.' },

  // --- limits ----------------------------------------------------------------
  GH_RATE_LIMITED: { status: 429, message: 'Too many requests.' },
  GH_LOCKED_OUT: { status: 429, message: 'Too many failed attempts; try again later.' },

  // --- secrets ---------------------------------------------------------------
  GH_SECRET_NOT_FOUND: { status: 404, message: 'No such secret.' },
  GH_SECRET_INVALID: { status: 400, message: 'The secret name, owner or value is invalid.' },
  GH_SECRETS_MASTER_KEY_MISSING: { status: 500, message: 'The secrets master key is not configured.' },
  GH_SECRETS_MASTER_KEY_MISMATCH: { status: 500, message: 'The secrets master key does not match the one the store was sealed with.' },
  GH_SECRETS_CORRUPT: { status: 500, message: 'A stored secret failed its integrity check.' },
  GH_UPSTREAM_CREDENTIALS_UNAVAILABLE: { status: 503, message: 'The credentials for the upstream service are unavailable.' },
  GH_OAUTH_TOKEN_FAILED: { status: 502, message: 'The OAuth 2.0 token endpoint did not issue a token.' },
  GH_IDENTITY_SIGNATURE_INVALID: { status: 401, message: 'The identity headers are not signed by the gateway.' },

  // --- store -----------------------------------------------------------------
  GH_STORE_UNAVAILABLE: { status: 503, message: 'The state store is unavailable.' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GatehouseErrorOptions {
  /** Internal detail for logs and audit; must be secret-free. Never sent to clients for 5xx. */
  readonly detail?: string;
  readonly cause?: unknown;
  /** Extra safe fields for the response body (e.g. approval_id, missing_scope). */
  readonly data?: Readonly<Record<string, string | number | boolean>>;
  /** Response headers this error needs (e.g. WWW-Authenticate, Retry-After). */
  readonly headers?: Readonly<Record<string, string>>;
}

export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly data: Readonly<Record<string, string | number | boolean>> | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;

  /** `message` defaults to the code's public message; it must be secret-free. */
  constructor(code: ErrorCode, message?: string, options: GatehouseErrorOptions = {}) {
    // Refusals (4xx) are expected control flow on the request path: capturing a stack trace for each costs more
    // than the rest of the refusal, and says nothing useful. 5xx errors keep theirs (and their cause's).
    const status: number = ERROR_CODES[code].status;
    const limit = Error.stackTraceLimit;
    if (status < 500) Error.stackTraceLimit = 0;
    super(message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    if (status < 500) Error.stackTraceLimit = limit;
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.detail = options.detail;
    this.data = options.data;
    this.headers = options.headers;
  }

  /** What a client may see: the specific message for 4xx, only the table's message for 5xx. */
  get publicMessage(): string {
    return this.status >= 500 ? ERROR_CODES[this.code].message : this.message;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.publicMessage };
  }
}

export function isGatehouseError(err: unknown): err is GatehouseError {
  return err instanceof GatehouseError;
}

/** Wraps anything thrown into a GatehouseError without copying its (possibly secret-bearing) message. */
export function toGatehouseError(err: unknown, fallback: ErrorCode = 'GH_INTERNAL'): GatehouseError {
  if (err instanceof GatehouseError) return err;
  return new GatehouseError(fallback, undefined, { cause: err });
}

/** The JSON error body every HTTP surface returns. */
export function errorBody(err: GatehouseError, requestId?: string): string {
  const body: Record<string, unknown> = { code: err.code, message: err.publicMessage };
  if (err.data) for (const [k, v] of Object.entries(err.data)) body[k] = v;
  if (requestId) body['request_id'] = requestId;
  return JSON.stringify({ error: body });
}

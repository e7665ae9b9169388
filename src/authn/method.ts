import { GatehouseError, type ErrorCode } from '../core/errors.js';
import type { AuthMethod, Exchange, Principal } from '../core/types.js';

/** What identify reads of the request once, before asking the methods. */
export interface Credentials {
  /** The Authorization header's scheme, lower-cased ('bearer', 'basic', …), when the header is present. */
  scheme: string | undefined;
  /** The bearer credential (RFC 6750), when the scheme is Bearer. */
  bearer: string | undefined;
  /** Decoded Basic credentials (RFC 7617), when the scheme is Basic and they decode. */
  basic: { user: string; password: string } | undefined;
}

/**
 * One authentication method. `recognise` is cheap and synchronous: it says whether this request carries a credential
 * of this method (the first method that recognises decides) and returns what `authenticate` needs. `authenticate`
 * returns the principal — synchronously when it can (cache hits) — or throws a CredentialError.
 */
export interface AuthMethodImpl<C = unknown> {
  readonly name: AuthMethod;
  /**
   * Where an explicit credential of this method sits in the request ('authorization' or a header name), for the
   * two-credentials-in-one-request check; several places when it is present in several (e.g. an API key in both
   * Authorization and X-API-Key); undefined when absent or ambient (client certificate, trusted proxy identity).
   */
  carrier(ex: Exchange, creds: Credentials): string | readonly string[] | undefined;
  recognise(ex: Exchange, creds: Credentials): C | undefined;
  authenticate(ex: Exchange, claim: C): Principal | Promise<Principal>;
  /** The public failure: bearer methods answer invalid_token (RFC 6750), the others invalid credentials. */
  readonly failure: 'token' | 'credentials';
  /**
   * Whether the key that verified a principal of this method still verifies, from what the method holds now:
   * synchronous and cheap, never a fetch (the credential watch asks every sweep). Absent: nothing to re-check.
   */
  keyStillValid?(principal: Principal): boolean;
  close?(): Promise<void>;
}

/** A refused credential: the precise code and reason go to the audit record; the client sees a generic 401. */
export class CredentialError extends GatehouseError {
  /** The principal the credential claimed (user name, key id), for per-principal failure counts. Never a secret. */
  readonly claimed: string | undefined;
  constructor(code: ErrorCode, reason: string, claimed?: string) {
    super(code, undefined, { detail: reason });
    this.claimed = claimed;
  }
}

export function credentialError(code: ErrorCode, reason: string, claimed?: string): CredentialError {
  return new CredentialError(code, reason, claimed);
}

/** Reads one request header as a single string; a repeated header is refused as ambiguous by the caller. */
export function headerValue(ex: Exchange, lowerName: string): string | undefined {
  const v = ex.req.headers[lowerName];
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : undefined;
}

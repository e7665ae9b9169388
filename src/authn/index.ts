/**
 * gatehouse/authn — identity (issue 3): every authentication method, Gatehouse tokens and their lifecycle.
 * See docs/authentication.md.
 */
export { createAuthenticator, type Authenticator, type AuthenticatorDeps } from './authenticator.js';
export { authProductionProblems } from './production.js';
export { openTokenService, tokenKeyringFor } from './setup.js';
export { TokenService, maxTtlFor, isAdminScope, DEFAULT_MAX_TTL, type MintOptions, type MaxTtl, type TokenStatus } from './tokens.js';
export { verifyTokenString, encodeToken, decodeClaims, keyLookup, TOKEN_PREFIX, type TokenClaims, type VerifiedToken } from './token-format.js';
export {
  ensureTokenSecrets, rotateTokenSecret, rotateTokenSecretIfDue, retireTokenKey, listTokenKeys, configTokenKeyring, tokenKeyPath,
  type TokenKey, type TokenKeyring, type TokenKeyInfo, type RotationResult, type RotateOptions,
} from './token-keys.js';
export { TokenKeyRotator, tokenRotationPolicy, rotationCheckInterval, type TokenRotationPolicy, type TokenKeyRotatorOptions } from './token-rotation.js';
export { listActiveTokens, revokeTokenId, revocationTarget, NS_TOKENS, NS_REVOKED, NS_USAGE, type IssuedToken, type TokenListEntry } from './token-store.js';
export { createApiKey, importApiKey, listApiKeys, revokeApiKey, resolveApiKeyId, parseApiKey, NS_API_KEYS, type ApiKeyInfo } from './api-key-store.js';
export { hashSecret, verifySecret } from './passwords.js';
export { readUsersFile, writeUsersFile, defaultUsersFile, type UserEntry } from './users-file.js';
export { parseScopes } from './scopes.js';
export { FailureCounter, type FailureSnapshot, type FailureEvent } from './failures.js';
export { RevocationWatcher } from './revocation.js';
export { setSecretRegistrar } from './secret-registry.js';
export { identityHeaderNames } from './trusted-identity.js';
export {
  upstreamIdentityHeaders, identitySignatureHeader, verifyIdentityHeaders, upstreamIdentityHeaderNames, DEFAULT_IDENTITY_PREFIX,
  IDENTITY_SIGNATURE_LABEL, type SignedRequest, type VerifiedIdentity,
} from '../core/identity-headers.js';

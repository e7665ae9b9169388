import { z } from 'zod';
import { bytes, envName, filePath, section, timerDuration } from './common.js';

// The 'client' section (docs/client.md): seed 000's agent-side `security` block — TLS with server verification and a
// client certificate, basic / token / OAuth2 client credentials / custom header authentication, payload encryption —
// for the outbound secure client (gatehouse/client, `gatehouse client request`).

const TLS_VERSION = z.enum(['tls10', 'tls11', 'tls12', 'tls13']);

export const clientTlsSchema = section({
  enabled: z.boolean().default(true),
  /** Client certificate and key for mutual TLS. */
  cert_file: filePath().optional(),
  key_file: filePath().optional(),
  /** CA bundle the server's certificate must chain to (default: Node's bundled roots). */
  ca_file: filePath().optional(),
  /** Seed 000: "not recommended for production": refused there. */
  insecure_skip_verify: z.boolean().default(false),
  /** The name the server's certificate must carry (default: the URL's host). */
  server_name: z.string().min(1).max(253).optional(),
  min_version: TLS_VERSION.default('tls12'),
  max_version: TLS_VERSION.default('tls13'),
  /** Seed 000 lists it; the server picks the suite, so a client accepts it and it changes nothing. */
  prefer_server_cipher_suites: z.boolean().default(true),
  insecure_allow_legacy_tls: z.boolean().default(false),
});

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'a header name (RFC 9110 token)');

export const clientAuthSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({
    type: z.literal('basic'),
    username: z.string().min(1).max(256).regex(/^[^:\r\n\0]+$/, 'a user name without ":" or control characters'),
    password: z.string().min(1).optional(),
    password_file: filePath().optional(),
  }),
  z.strictObject({ type: z.literal('token'), token: z.string().min(1).optional(), token_file: filePath().optional() }),
  z.strictObject({
    type: z.literal('oauth2'),
    client_id: z.string().min(1).max(256),
    client_secret: z.string().min(1).optional(),
    client_secret_file: filePath().optional(),
    token_url: z.string().url(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'a scope token (RFC 6749 §3.3)')).default([]),
    /** RFC 8707 resource indicator (the audience of the token). */
    resource: z.string().url().optional(),
    /** RFC 6749 §2.3.1: HTTP Basic (the default, which servers must support) or the form body. */
    auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    /** Refresh this long before the token expires. */
    refresh_skew: timerDuration('30s'),
  }),
  z.strictObject({ type: z.literal('header'), headers: z.record(headerName, z.string().min(1)) }),
]);

export const clientEncryptionSchema = section({
  enabled: z.boolean().default(false),
  type: z.enum(['aes', 'chacha20poly1305', 'xchacha20poly1305']).default('aes'),
  key_file: filePath().optional(),
  key_env: envName.optional(),
  /** The key id the gateway's keyring knows the key by (encryption.key_id). */
  key_id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/).default('key-1'),
  /** The tenant and route the body is bound to (the gateway checks both: docs/encryption.md). */
  tenant: z.string().optional(),
  route: z.string().optional(),
});

export const clientSection = section({
  /** Base URL requests are resolved against. */
  url: z.string().url().optional(),
  timeout: timerDuration('30s'),
  max_response_size: bytes('10mb'),
  security: section({
    tls: clientTlsSchema,
    auth: clientAuthSchema.default({ type: 'none' }),
    encryption: clientEncryptionSchema,
  }),
});
export type ClientConfig = z.infer<typeof clientSection>;
export type ClientAuthConfig = z.infer<typeof clientAuthSchema>;

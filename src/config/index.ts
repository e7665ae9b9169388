export { loadConfig, validateConfig, resolveStateDir, resolveProfile, ConfigError, EMBEDDED_DEFAULT, type LoadOptions } from './load.js';
export { productionProblems, trustsEveryAddress, injectsCredential } from './profiles.js';
export { interpolate, interpolateString } from './interpolate.js';
export { decodePinSha256 } from './schema/server.js';
export { configSchema, MOZILLA_INTERMEDIATE_CIPHERS, type GatehouseConfig, type ConfigInput, type RouteConfig, type TlsConfig } from './schema/index.js';
export { redactConfigForDisplay } from './display.js';
export { parseRate, parseByteRate, parseByteSize, RATE_KEY_PARTS, BANDWIDTH_DIRECTIONS, type LimitsConfig, type Rate, type RateKeyPart, type RateRuleConfig, type ByteRate, type BandwidthRuleConfig } from './schema/limits.js';
export {
  parseSecretRef, SECRET_NAME_RE, SECRET_OWNER_RE,
  type SecretRef, type SecretsConfig, type UpstreamAuthConfig, type IdentityHeadersConfig,
} from './schema/secrets.js';
export { residencyPolicy, residencyProblems, type ResidencyConfig, type ResidencyPolicy, type RouteResidencyConfig } from './schema/residency.js';
export { parseOriginPattern, type OriginPattern, type RouteCorsConfig } from './schema/cors.js';
export { parsePostgresUrl, POSTGRES_SCHEMA_RE, type PostgresStoreConfig, type PostgresTarget, type StoreSectionConfig } from './schema/store.js';
export { clientSection, type ClientConfig, type ClientAuthConfig } from './schema/client.js';
export { DEFAULT_OTLP_TRACES_ENDPOINT, ENV_HEADER_PREFIX, isPlainHttpOffLoopback, otlpEndpointProblem, type TracingConfig } from './schema/tracing.js';

/**
 * The mapping, in one table for review: each control of HIPAA's Security Rule (45 CFR 164.312, technical safeguards)
 * and of PCI DSS v4.0 that the gateway can contribute to, the doctor checks and settings shown as its evidence, the
 * rule that judges it (rules.ts) in words, and what the gateway cannot see of it. docs/compliance.md repeats this table.
 * Control identifiers are the standards' own; titles are ours.
 */
import * as rules from './rules.js';
import type { ControlDefinition } from './types.js';

const AUDIT_KEYS = ['audit.enabled', 'audit.on_failure', 'audit.sinks', 'audit.alerts.enabled'] as const;
const CHAIN_KEYS = ['audit.enabled', 'audit.checkpoint.every_records', 'audit.checkpoint.private_key_file', 'audit.checkpoint.private_key_env', 'audit.checkpoint.public_key_file'] as const;
const TLS_KEYS = ['server.tls.enabled', 'server.tls.min_version', 'server.tls.cert_file', 'server.listen', 'routes[].upstream (scheme)', 'routes[].tls.insecure_skip_verify', 'audit.sinks'] as const;
const TLS_CHECKS = ['tls.enabled', 'tls.min_version', 'tls.ciphers', 'tls.dev_ca', 'tls.certificate_expiry', 'tls.key_match', 'routes.upstream_tls_verify', 'routes.upstream_tls_version', 'routes.plain_http', 'tls.outbound_clients', 'audit.sink_transport'] as const;
const TLS_RULE = 'not_met when any of tls.enabled, tls.min_version, tls.ciphers, tls.certificate_expiry, tls.key_match, routes.upstream_tls_verify, routes.upstream_tls_version, routes.plain_http, tls.outbound_clients fails; partial when tls.dev_ca fails or routes.plain_http or audit.sink_transport warns; else met';
const ACCESS_RULE = 'not_applicable with no routes; not_met when auth.methods or routes.auth_required fails (no method, none, or a route without authentication); partial when authz.http_default is authenticated; else met';
const UNIQUE_RULE = 'not_met when auth.methods is empty or includes none; partial when the header method (one shared credential, one principal) is on or auth.trusted_identity fails; else met';
const INTEGRITY_RULE = 'not_met when audit is off, audit.checkpoint_key fails, or --verify-audit finds the chain broken (or cannot read it); partial when verify finds a torn last line, no audit directory, or no key to check signatures; else met (without --verify-audit the row says the log itself was not verified)';

export const CONTROLS: readonly ControlDefinition[] = Object.freeze([
  // HIPAA Security Rule, 45 CFR 164.312 (technical safeguards)
  {
    framework: 'hipaa', control: '164.312(a)(1)', title: 'Access control: only granted principals reach the services',
    checks: ['auth.methods', 'routes.auth_required'], keys: ['auth.methods', 'routes[].auth_required', 'authz.http_default', 'authz.routes', 'authz.acl_files', 'authz (unknown tools)'],
    rule: ACCESS_RULE, judge: rules.accessControl,
    outside: 'Who is granted which scopes (the access authorization of 164.308(a)(4)) and access that bypasses the gateway.',
  },
  {
    framework: 'hipaa', control: '164.312(a)(2)(i)', title: 'Unique user identification',
    checks: ['auth.methods', 'auth.trusted_identity'], keys: ['auth.methods', 'auth.header.headers', 'auth.header.principal', 'auth.header.trusted_identity.authenticate', 'auth.static.tokens'],
    rule: UNIQUE_RULE, judge: rules.uniqueIds,
    outside: 'Whether one credential (a token minted for a team, a shared API key) is used by several people.',
  },
  {
    framework: 'hipaa', control: '164.312(a)(2)(iii)', title: 'Automatic logoff: credentials expire',
    checks: ['auth.token_ttl'], keys: ['auth.methods', 'auth.token.default_ttl', 'auth.token.max_ttl.default', 'auth.token.max_ttl.admin', 'server.limits.idle_timeout'],
    rule: 'not_applicable with no auth method; partial when auth.token_ttl warns (a lifetime above 24h) or auth.methods includes a method whose credentials carry no configured lifetime (api_key, basic, static, header, mtls, none); else met',
    judge: rules.automaticLogoff,
    outside: 'Ending an interactive session after inactivity in the applications and workstations that hold the credentials.',
  },
  {
    framework: 'hipaa', control: '164.312(a)(2)(iv)', title: 'Encryption and decryption mechanism',
    checks: ['secrets.master_key', 'routes.end_to_end_encryption'], keys: ['encryption.enabled', 'encryption.transit.enabled', 'encryption.request_bodies.enabled', 'encryption.kms.key_file', 'encryption.kms.key_env', 'routes[].end_to_end', 'routes[].encryption.required', 'secrets.master_key_file', 'secrets.master_key_env'],
    rule: 'outside_gateway when the gateway offers no mechanism (no transit API, no client-encrypted bodies, no end-to-end route with encryption.required) and secrets.master_key does not fail; partial when secrets.master_key fails or the encryption master key is generated in the state directory (encryption.kms.key_file/key_env unset); else met',
    judge: rules.encryptionMechanism,
    outside: 'Encryption of ePHI stored by the services behind the gateway and by their backups. The gateway keeps no bodies; its audit log and approval queue keep tool arguments after redaction (audit.hmac_keys hides chosen ones).',
  },
  {
    framework: 'hipaa', control: '164.312(b)', title: 'Audit controls: activity recorded and examinable',
    checks: ['audit.enabled', 'audit.on_failure', 'audit.remote_sink', 'audit.alerts'], keys: [...AUDIT_KEYS],
    rule: 'not_met when audit.enabled is false; partial when audit.on_failure warns (continue); else met (audit.remote_sink and audit.alerts are shown as evidence)',
    judge: rules.auditControls,
    outside: 'Activity in the services themselves and the review of the records by people (seed 001: "Review audit trail weekly").',
  },
  {
    framework: 'hipaa', control: '164.312(c)(1)', title: 'Integrity: tamper-evident audit trail',
    checks: ['audit.enabled', 'audit.checkpoint_key'], keys: [...CHAIN_KEYS], usesVerification: true,
    rule: INTEGRITY_RULE, judge: rules.auditIntegrity,
    outside: 'Integrity of the ePHI the services store: the gateway protects its own record of access to it.',
  },
  {
    framework: 'hipaa', control: '164.312(d)', title: 'Person or entity authentication',
    checks: ['auth.methods', 'auth.secret_strength', 'auth.plaintext_passwords', 'auth.jwt_https', 'auth.trusted_identity', 'tls.client_ca', 'tls.client_revocation'],
    keys: ['auth.methods', 'auth.basic.users', 'auth.jwt.issuers', 'server.tls.client_auth'],
    rule: 'not_met when auth.methods fails; partial when auth.secret_strength, auth.plaintext_passwords, auth.jwt_https, auth.trusted_identity, tls.client_ca or tls.client_revocation fails; else met',
    judge: rules.entityAuthentication,
    outside: 'How credentials reach the right person (identity proofing, issuing tokens and certificates), and multi-factor authentication at the identity provider.',
  },
  {
    framework: 'hipaa', control: '164.312(e)(1)', title: 'Transmission security',
    checks: [...TLS_CHECKS], keys: [...TLS_KEYS],
    rule: TLS_RULE, judge: rules.transmission,
    outside: 'Networks the gateway does not carry: clients reaching services directly, and TLS terminated in front of the gateway.',
  },
  {
    framework: 'hipaa', control: '164.312(e)(2)(ii)', title: 'Encryption in transit',
    checks: ['tls.enabled', 'tls.min_version', 'tls.ciphers', 'routes.upstream_tls_version', 'routes.plain_http', 'audit.sink_transport'], keys: [...TLS_KEYS],
    rule: 'not_met when tls.enabled, tls.min_version, tls.ciphers, routes.upstream_tls_version or routes.plain_http fails; partial when routes.plain_http or audit.sink_transport warns (a plain syslog or http sink off this host), or when a syslog or http audit sink is on loopback (a relay whose onward transport the gateway cannot see); else met',
    judge: rules.transmissionEncryption,
    outside: 'Traffic that does not pass through the gateway.',
  },
  {
    framework: 'hipaa', control: '164.308(b)(1)', title: 'Business associate contracts',
    checks: [], keys: [], rule: 'always outside_gateway', judge: rules.outsideGateway('a business associate agreement is a contract between organisations: no configuration shows one'),
    outside: 'The whole control.',
  },
  {
    framework: 'hipaa', control: '164.310(a)(1)', title: 'Facility access controls',
    checks: [], keys: [], rule: 'always outside_gateway', judge: rules.outsideGateway('physical security of the buildings and machines is infrastructure the gateway cannot see (seed 002: "infrastructure-dependent")'),
    outside: 'The whole control.',
  },
  // PCI DSS v4.0
  {
    framework: 'pci-dss', control: '3.5.1', title: 'Stored account data unreadable',
    checks: ['routes.end_to_end_encryption'], keys: ['routes[].end_to_end', 'routes[].encryption.required', 'encryption.enabled', 'audit.hmac_keys'],
    rule: 'outside_gateway unless a route is end_to_end with encryption.required (the gateway then forwards only ciphertext on it): partial',
    judge: rules.storedAccountData,
    outside: 'Storage of PAN by the services, databases and backups. Audit records and the approval queue keep tool arguments after redaction: keep PAN out of them, or list the argument names in audit.hmac_keys.',
  },
  {
    framework: 'pci-dss', control: '4.2.1', title: 'Strong cryptography for transmission',
    checks: [...TLS_CHECKS], keys: [...TLS_KEYS],
    rule: TLS_RULE, judge: rules.transmission,
    outside: 'Which networks are open and public, and PAN sent by other paths (end-user messaging, 4.2.2).',
  },
  {
    framework: 'pci-dss', control: '7.2.1', title: 'Access control model: default deny',
    checks: ['auth.methods', 'routes.auth_required'], keys: ['authz.http_default', 'authz.routes', 'authz.acl_files', 'authz.default_tools', 'authz.tools', 'authz (unknown tools)', 'routes[].auth_required'],
    rule: ACCESS_RULE, judge: rules.accessControl,
    outside: 'Whether each grant follows job function and least privilege (the scopes you mint and the ACLs you write).',
  },
  {
    framework: 'pci-dss', control: '8.2.1', title: 'Unique ID for every user',
    checks: ['auth.methods', 'auth.trusted_identity'], keys: ['auth.methods', 'auth.header.headers', 'auth.header.principal', 'auth.header.trusted_identity.authenticate', 'auth.static.tokens'],
    rule: UNIQUE_RULE, judge: rules.uniqueIds,
    outside: 'Whether one credential is shared by several people.',
  },
  {
    framework: 'pci-dss', control: '8.3.4', title: 'Lockout: at most 10 attempts, at least 30 minutes',
    checks: ['limits.enabled', 'limits.lockout'], keys: ['limits.enabled', 'limits.lockout.enabled', 'limits.lockout.max_failures', 'limits.lockout.window', 'limits.lockout.duration', 'limits.lockout.per', 'limits.lockout.exempt', 'auth.methods'],
    rule: 'not_met when limits.enabled or limits.lockout.enabled is false, limits.lockout.max_failures is above 10, limits.lockout.duration is under 30m, limits.lockout.window is under 15m (a client pacing its attempts is never locked out), or limits.lockout.exempt covers every address; partial when basic is in auth.methods and limits.lockout.per lacks principal, or limits.lockout.exempt lists a range broader than /8 (IPv4) or /32 (IPv6); else met',
    judge: rules.lockout,
    outside: 'Lockout at the identity provider for JWT users, and in systems reached without the gateway.',
  },
  {
    framework: 'pci-dss', control: '8.6.2', title: 'No credentials written in configuration files',
    checks: ['config.inline_secrets', 'auth.plaintext_passwords'], keys: ['auth.token.secret'],
    rule: 'not_met when config.inline_secrets warns or fails or auth.plaintext_passwords fails; else met (with no --config file the embedded default holds none)',
    judge: rules.noHardcodedCredentials,
    outside: 'Scripts and source code of other systems, and where the ${VAR} and *_file values are kept.',
  },
  {
    framework: 'pci-dss', control: '8.6.3', title: 'Application and system account credentials changed and strong',
    checks: ['auth.token_rotation', 'auth.secret_strength'], keys: ['auth.methods', 'auth.token.secret', 'auth.token.rotation.every', 'auth.static.tokens'],
    rule: 'not_met when auth.secret_strength or auth.token_rotation fails; partial when auth.token_rotation warns, the token method runs without auth.token.rotation.every or with auth.token.secret in configuration, or static tokens are configured; else met',
    judge: rules.accountCredentials,
    outside: 'The rotation period your targeted risk analysis sets (12.3.1), API keys and passwords changed through the CLI, and which principals are system or application accounts.',
  },
  {
    framework: 'pci-dss', control: '10.2.1', title: 'Audit logs enabled and active',
    checks: ['audit.enabled', 'audit.on_failure'], keys: ['audit.enabled', 'audit.on_failure'],
    rule: 'not_met when audit.enabled is false; partial when audit.on_failure warns (continue); else met',
    judge: rules.auditEnabled,
    outside: 'Logs of the other system components.',
  },
  {
    framework: 'pci-dss', control: '10.3.2', title: 'Audit log files protected from modification',
    checks: ['audit.enabled', 'state.permissions', 'audit.checkpoint_key'], keys: [...CHAIN_KEYS], usesVerification: true,
    rule: 'not_met when audit is off, state.permissions or audit.checkpoint_key fails, or --verify-audit finds the chain broken; partial as 164.312(c)(1); else met',
    judge: rules.auditProtected,
    outside: 'Who holds the gateway\'s operating-system account or root, and storage that refuses changes (write-once media, the SIEM\'s copy).',
  },
  {
    framework: 'pci-dss', control: '10.3.3', title: 'Audit logs copied to a central log server',
    checks: ['audit.remote_sink', 'audit.sink_transport', 'tls.outbound_clients'], keys: ['audit.enabled', 'audit.sinks'],
    rule: 'not_met when audit is off or audit.remote_sink warns with no syslog or http sink; partial when every syslog and http sink is on loopback (a relay: whether it forwards off the host is not visible), audit.sink_transport warns or tls.outbound_clients fails; else met',
    judge: rules.auditOffHost,
    outside: 'The log server itself: that it is internal, secured and hard to alter.',
  },
  {
    framework: 'pci-dss', control: '10.3.4', title: 'Change detection on audit logs',
    checks: ['audit.enabled', 'audit.checkpoint_key'], keys: [...CHAIN_KEYS], usesVerification: true,
    rule: INTEGRITY_RULE, judge: rules.auditIntegrity,
    outside: 'Running gatehouse audit verify on a schedule, with a copy of the public key kept off this host, and acting on its exit status.',
  },
  {
    framework: 'pci-dss', control: '10.5.1', title: 'Audit history kept 12 months',
    checks: ['audit.enabled'], keys: ['audit.enabled', 'audit.retention.max_age', 'audit.retention.max_files', 'audit.rotation.max_age', 'audit.compress'],
    rule: 'not_met when audit is off or audit.retention.max_age is under 366d (12 months across a 29 February); partial when audit.retention.max_files is set (history then depends on volume); else met — unset retention keeps everything',
    judge: rules.retention,
    outside: 'Disk space, archives and backups that keep the files for 12 months, and the most recent three months at hand for analysis (gatehouse audit query reads rotated and gzipped files).',
  },
  {
    framework: 'pci-dss', control: '10.7.2', title: 'Failures of security controls detected and alerted',
    checks: ['audit.enabled', 'audit.on_failure', 'audit.alerts'], keys: ['audit.enabled', 'audit.on_failure', 'audit.alerts.enabled', 'audit.alerts.on_critical', 'audit.alerts.auth_failures'],
    rule: 'not_met when audit is off; partial when audit.on_failure or audit.alerts warns; else met',
    judge: rules.failureAlerts,
    outside: 'Collecting the gateway\'s own log (the audit_unavailable alert is a log line, not a webhook post), and failures of the other security systems (firewalls, IDS, anti-malware).',
  },
]);

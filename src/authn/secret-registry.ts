/**
 * The one place authn hands secrets (signing keys, minted and verified tokens, API keys, static tokens) to the
 * log redactor, so a secret that leaks into a log line is masked (issue 3: never in a log line).
 *
 * REDACT INTEGRATION POINT: src/redact/index.ts `registerSecret(value)` is wired in by `installSecretRegistrar`
 * (called from createAuthenticator and the CLI); until it is, registration is a no-op.
 */
type Registrar = (value: string) => void;

let registrar: Registrar | undefined;

export function registerAuthSecret(value: string): void {
  if (registrar !== undefined && value.length >= 8) registrar(value);
}

/** Sets the function secrets are passed to (tests and the redact capability). */
export function setSecretRegistrar(fn: Registrar | undefined): void {
  registrar = fn;
}

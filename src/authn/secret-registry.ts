import { registerSecret } from '../redact/index.js';

/**
 * The one place authn hands secrets (signing keys, minted and verified tokens, API keys, static tokens, header
 * values) to the redactor's process-wide registry, so a secret that leaks into a log line is masked wherever it
 * appears verbatim (issue 3: never in a log line; issue 6: known secrets). Tests may swap the registrar.
 */
type Registrar = (value: string, opts: { pinned?: boolean }) => unknown;

let registrar: Registrar | undefined = registerSecret;

/**
 * `pinned` for secrets that stay valid while the process runs (signing keys, static tokens, header and JWT secrets):
 * the registry keeps only the newest ten thousand of the rest, and the tokens verified per request must not push these out.
 */
export function registerAuthSecret(value: string, pinned = false): void {
  if (registrar !== undefined && value.length >= 8) registrar(value, { pinned });
}

/** Replaces the function secrets are passed to (tests; undefined turns registration off). */
export function setSecretRegistrar(fn: Registrar | undefined): void {
  registrar = fn;
}

import { setSecretRegistrar } from './secret-registry.js';

/**
 * Connects authn's secret registry to the redact capability when this build has it (src/redact/index.ts
 * `registerSecret`). Loaded dynamically so authn works, and its tests run, without redact.
 */
export async function installSecretRegistrar(): Promise<boolean> {
  const specifier = '../redact/index.js';
  try {
    const mod = (await import(specifier)) as { registerSecret?: (value: string) => void };
    if (typeof mod.registerSecret !== 'function') return false;
    setSecretRegistrar(mod.registerSecret);
    return true;
  } catch {
    return false;
  }
}

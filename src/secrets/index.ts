/**
 * gatehouse/secrets — the encrypted secrets store (seed 003), secret references (secret:, env:, file:) and upstream
 * credential injection. See docs/secrets.md.
 */
import type { Clock } from '../core/clock.js';
import type { StateStore } from '../core/store.js';
import type { SecretsConfig } from '../config/index.js';
import { loadMasterKey } from './master.js';
import { createResolver, type SecretResolver } from './resolver.js';
import { SecretStore } from './vault.js';

export { SecretStore, NS_SECRETS, checkAddress, type SecretInfo, type SecretStoreOptions, type SetOptions } from './vault.js';
export { loadMasterKey, deriveMasterKey, masterCheck, generatedMasterKeyPath, type MasterKeySource, type MasterKdf, type MasterKeyOptions } from './master.js';
export { createResolver, formatRef, type SecretResolver, type ResolverOptions } from './resolver.js';
export { createCredentialInjector, type CredentialInjector, type InjectedRoute, type InjectorOptions } from './inject.js';
export { parseSecretRef, type SecretRef, type SecretsConfig, type UpstreamAuthConfig } from '../config/index.js';

export interface SecretsRuntime {
  /** The encrypted store, opened on first use with the configured master key (so env:/file: alone need none). */
  vault(): Promise<SecretStore>;
  resolver: SecretResolver;
  close(): void;
}

export interface SecretsDeps {
  store: StateStore;
  stateDir: string;
  profile: 'development' | 'production';
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
}

/** The secrets capability from the `secrets` config section. */
export function openSecrets(cfg: SecretsConfig, deps: SecretsDeps): SecretsRuntime {
  let opened: Promise<SecretStore> | undefined;
  const vault = (): Promise<SecretStore> => {
    const load = () => loadMasterKey(cfg, { stateDir: deps.stateDir, profile: deps.profile, ...(deps.env ? { env: deps.env } : {}) });
    opened ??= Promise.resolve().then(() => {
      const master = load();
      return SecretStore.open({
        store: deps.store,
        master,
        // A key file (configured, or the generated development key) can hold the new key after a rotation while the
        // gateway runs; an environment variable cannot change under a running process.
        ...(master.source !== 'env' ? { reloadMaster: load } : {}),
        kdfIterations: cfg.kdf_iterations,
        maxVersions: cfg.max_versions,
        maxValueBytes: cfg.max_value_bytes,
        ...(deps.clock ? { clock: deps.clock } : {}),
      });
    });
    // A failed open (no key yet, wrong key) is tried again on the next use rather than remembered.
    opened.catch(() => {
      opened = undefined;
    });
    return opened;
  };
  const resolver = createResolver({ vault, fileDir: cfg.file_dir, maxValueBytes: cfg.max_value_bytes, ...(deps.env ? { env: deps.env } : {}) });
  return {
    vault,
    resolver,
    close() {
      void opened?.then((v) => v.close(), () => {});
    },
  };
}

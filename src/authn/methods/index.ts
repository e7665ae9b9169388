import { readFileSync } from 'node:fs';
import type { GatehouseConfig } from '../../config/index.js';
import { GatehouseError } from '../../core/errors.js';
import type { StageDeps } from '../../core/types.js';
import { apiKeysHoldBcrypt } from '../api-key-store.js';
import { BcryptAdmission } from '../bcrypt-admission.js';
import type { AuthMethodImpl } from '../method.js';
import type { RevocationWatcher } from '../revocation.js';
import type { TokenService } from '../tokens.js';
import { defaultUsersFile } from '../users-file.js';
import type { UsageRecorder } from '../usage.js';
import { apiKeyMethod } from './api-key.js';
import { basicMethod } from './basic.js';
import { headerMethod } from './header.js';
import { jwtMethod } from './jwt.js';
import { mtlsMethod } from './mtls.js';
import { noneMethod } from './none.js';
import { staticMethod, type StaticTokenEntry } from './static.js';
import { tokenMethod } from './token.js';

export interface MethodDeps extends StageDeps {
  stateDir: string;
  tokens: TokenService | undefined;
  revocations: RevocationWatcher;
  usage: UsageRecorder;
}

/** Static tokens from config, a file (already read by the loader) or an environment variable read now. */
function staticEntries(cfg: GatehouseConfig): StaticTokenEntry[] {
  return cfg.auth.static.tokens.map((t, i) => {
    let token = t.token;
    if (token === undefined && t.token_file !== undefined) token = readFileSync(t.token_file, 'utf8').trim();
    if (token === undefined && t.token_env !== undefined) token = process.env[t.token_env];
    if (token === undefined || token.length < 16) {
      throw new GatehouseError('GH_CONFIG_INVALID', `auth.static.tokens[${i}]: the token is missing or shorter than 16 characters`);
    }
    return { token, principal: t.principal, scopes: t.scopes, tenant: t.tenant, type: t.type };
  });
}

/** The configured methods, in `auth.methods` order. */
export async function buildMethods(cfg: GatehouseConfig, deps: MethodDeps): Promise<AuthMethodImpl[]> {
  const auth = cfg.auth;
  const cache = { maxEntries: auth.cache.max_entries, ttlMs: auth.cache.ttl };
  const methods: AuthMethodImpl[] = [];
  // Shared by basic and api_key: while either holds a bcrypt hash, both reserve a bcrypt slot before their lookup.
  const admission = new BcryptAdmission();
  for (const name of auth.methods) {
    switch (name) {
      case 'token':
        if (!deps.tokens) throw new TypeError('the token method needs a token service');
        methods.push(tokenMethod(deps.tokens, { clock: deps.clock, usage: deps.usage }) as AuthMethodImpl);
        break;
      case 'jwt':
        if (auth.jwt.issuers.length === 0) throw new GatehouseError('GH_CONFIG_INVALID', 'auth.methods lists jwt but auth.jwt.issuers is empty');
        methods.push((await jwtMethod({ issuers: auth.jwt.issuers, maxLength: auth.jwt.max_length, clock: deps.clock, logger: deps.logger, revocations: deps.revocations, cache })) as AuthMethodImpl);
        break;
      case 'api_key':
        admission.holds('api_key', await apiKeysHoldBcrypt(deps.store, deps.clock.now(), deps.logger));
        methods.push(apiKeyMethod({ store: deps.store, clock: deps.clock, revocations: deps.revocations, usage: deps.usage, cache, header: auth.api_key.header, admission }) as AuthMethodImpl);
        break;
      case 'basic':
        methods.push(basicMethod({ users: auth.basic.users, usersFile: auth.basic.users_file ?? defaultUsersFile(deps.stateDir), clock: deps.clock, logger: deps.logger, cache, admission }) as AuthMethodImpl);
        break;
      case 'static':
        methods.push(staticMethod(staticEntries(cfg)) as AuthMethodImpl);
        break;
      case 'mtls':
        methods.push(mtlsMethod(auth.mtls.map) as AuthMethodImpl);
        break;
      case 'header':
        methods.push(headerMethod(auth.header) as AuthMethodImpl);
        break;
      case 'none': {
        const others = methods;
        methods.push(noneMethod({
          principal: auth.none.principal,
          scopes: auth.none.scopes,
          hasExplicitCredential: (ex, creds) => others.some((m) => m.name !== 'none' && m.carrier(ex, creds) !== undefined),
        }) as AuthMethodImpl);
        break;
      }
    }
  }
  return methods;
}

import { clientKey, normalizeIp } from '../core/net.js';
import { bcryptPool, type BcryptPool, type BcryptTicket } from './bcrypt-pool.js';

/** The methods whose verifications can reach bcrypt (verifySecret): the others never hold a bcrypt hash. */
export type BcryptMethod = 'basic' | 'api_key';

/**
 * Decides, before a Basic user or an API key id is looked up, whether its verification may start while bcrypt is
 * capped (bcrypt-pool.ts). Refused after the lookup, only the principals with a bcrypt hash got the immediate 429
 * while unknown and argon2 ones paid an argon2 verification and got a 401: an oracle for which names and key ids exist,
 * and one never counted as a failure. So a slot is reserved first, for every verification of these methods; when the
 * lookup finds no bcrypt hash the process-wide slot goes back before any argon2 work, while the client's share is kept
 * to the end of the verification: while the pool is full, or the client holds its share, every principal gets the
 * same 429, with no lookup and no verification.
 *
 * Only while the deployment holds a bcrypt hash (`active`): the Basic users as last loaded, or an API key — found in
 * the store at start, or met since. An argon2-only deployment never reserves, so it is never refused here (and its
 * verifications never fill the pool: only bcrypt ones do).
 */
export class BcryptAdmission {
  readonly #pool: () => BcryptPool;
  readonly #holders = new Set<BcryptMethod>();

  constructor(pool: () => BcryptPool = bcryptPool) {
    this.#pool = pool;
  }

  /** Whether `method`'s principals include one with a bcrypt hash (Basic: at each users load; API keys: once seen). */
  holds(method: BcryptMethod, yes: boolean): void {
    if (yes) this.#holders.add(method);
    else this.#holders.delete(method);
  }

  get active(): boolean {
    return this.#holders.size > 0;
  }

  /**
   * A slot for the verification a client at `sourceIp` is about to start, reserved before the lookup; undefined when
   * the deployment holds no bcrypt hash. Throws GH_RATE_LIMITED (429, Retry-After) when the pool is full or the
   * client (clientKey: an IPv4 address, an IPv6 /64) holds BCRYPT_PER_CLIENT slots — whoever it claims to be.
   */
  admit(sourceIp: string): BcryptTicket | undefined {
    return this.active ? this.#pool().reserve(clientOf(sourceIp)) : undefined;
  }

  /**
   * A lookup that took no ticket found a bcrypt hash (an API key imported while the gateway runs): from now on every
   * verification reserves first. This one reserves now, and may be refused after its lookup; only while its own pool
   * holds no verification of this deployment's (another authenticator in the process, library calls) can that happen,
   * since until now nothing here verified bcrypt.
   */
  late(method: BcryptMethod, sourceIp: string): BcryptTicket {
    this.#holders.add(method);
    return this.#pool().reserve(clientOf(sourceIp));
  }
}

const clientOf = (ip: string): string => clientKey(normalizeIp(ip));

/**
 * The encrypted secrets store (seed 003 "Secrets Management"): values sealed with AES-256-GCM under a key derived per
 * owner ("per-user encryption: each user's secrets are encrypted with a unique derived key"), kept in the state store.
 *
 * Key hierarchy: master key (master.ts) ─wraps→ root key (random, one per generation, in the `_meta` record)
 * ─HKDF-SHA256(info = owner)→ owner key ─AES-256-GCM→ each version of each secret. The AAD binds owner, name and
 * version, so a value moved to another row (another user's, another name, an older version's slot) fails to open.
 *
 * Rotating the master key rewraps the roots in one atomic update of `_meta`; nothing else is rewritten and running
 * gateways keep serving. `rekey` makes a new root generation and re-encrypts every value under it (each record in its
 * own atomic update); `prune` then drops roots no value uses. See docs/secrets.md.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { readChanges, type StateStore } from '../core/store.js';
import { SECRET_NAME_RE, SECRET_OWNER_RE } from '../config/index.js';
import { constantTimeEqual, generateKey, hkdfSha256, open, seal, secureRandom } from '../crypto/index.js';
import { deriveMasterKey, masterCheck, type MasterKdf, type MasterKeySource } from './master.js';
import { corrupt, parseMeta, parseRecord, type MetaRecord, type SecretRecord, type VersionRecord } from './records.js';

export const NS_SECRETS = 'secrets';
const META_KEY = '_meta';
const ALG = 'aes-256-gcm';
const NONCE = 12;
const HKDF_SALT = Buffer.from('gatehouse/secrets/v1', 'utf8');
const MAX_OWNER_KEYS = 10_000;

export interface SecretInfo {
  owner: string;
  name: string;
  description?: string;
  /** The newest version. */
  version: number;
  /** Versions kept, oldest first. */
  versions: number[];
  created_at: number;
  updated_at: number;
  updated_by?: string;
}

export interface SecretStoreOptions {
  store: StateStore;
  master: MasterKeySource;
  /** PBKDF2 iterations when a new store (or a rotation) uses a passphrase. */
  kdfIterations?: number;
  maxVersions?: number;
  maxValueBytes?: number;
  clock?: Clock;
  /**
   * Reads the master key source again (a key file an operator pointed at the new key after `rotate-master`). Called
   * when the store's key check no longer matches this process's key, at most once per MASTER_RELOAD_MS; a key that
   * passes the check replaces the old one. Absent (a key from the environment, fixed for the process): no reload.
   */
  reloadMaster?: () => MasterKeySource;
}

/** How often a process whose master key was rotated away re-reads its key source. */
export const MASTER_RELOAD_MS = 5000;

export interface SetOptions {
  /** Who wrote it (recorded with the version; never a secret). */
  by?: string;
  description?: string;
}

const invalid = (what: string): GatehouseError => new GatehouseError('GH_SECRET_INVALID', `The secret ${what} is invalid.`, { detail: what });
const notFound = (owner: string, name: string, version?: number): GatehouseError =>
  new GatehouseError('GH_SECRET_NOT_FOUND', version === undefined ? `No secret ${name} for ${owner}.` : `Secret ${name} for ${owner} keeps no version ${version}.`, { data: { owner, name } });
const mismatch = (detail: string): GatehouseError => new GatehouseError('GH_SECRETS_MASTER_KEY_MISMATCH', undefined, { detail });

/** Throws GH_SECRET_INVALID for a name or owner outside the grammar of config/schema/secrets.ts. */
export function checkAddress(owner: string, name: string): void {
  if (typeof owner !== 'string' || !SECRET_OWNER_RE.test(owner)) throw invalid('owner (global, tenant:ID or user:ID)');
  if (typeof name !== 'string' || !SECRET_NAME_RE.test(name)) throw invalid('name (1 to 128 of A-Z a-z 0-9 . _ -)');
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const rootAad = (gen: number): Buffer => Buffer.from(`gatehouse/secrets/v1/root\0${gen}`, 'utf8');
const valueAad = (owner: string, name: string, version: number): Buffer => Buffer.from(`gatehouse/secrets/v1/value\0${owner}\0${name}\0${version}`, 'utf8');

function wrapRoot(master: Buffer, gen: number, root: Buffer): { nonce: string; ct: string } {
  const nonce = secureRandom(NONCE);
  return { nonce: b64(nonce), ct: b64(seal(ALG, master, nonce, root, rootAad(gen))) };
}

function unwrapRoot(master: Buffer, gen: number, r: { nonce: string; ct: string }): Buffer {
  try {
    return open(ALG, master, Buffer.from(r.nonce, 'base64'), Buffer.from(r.ct, 'base64'), rootAad(gen));
  } catch (e) {
    throw corrupt(`root key ${gen} does not open`, e);
  }
}

async function newKdf(src: MasterKeySource, iterations: number): Promise<{ kdf: MasterKdf; key: Buffer }> {
  const kdf: MasterKdf = src.kdf === 'none' ? { alg: 'none' } : { alg: 'pbkdf2-sha256', salt: b64(secureRandom(16)), iterations };
  return { kdf, key: await deriveMasterKey(src, kdf) };
}

export class SecretStore {
  readonly #store: StateStore;
  readonly #clock: Clock;
  readonly #maxVersions: number;
  readonly #maxValueBytes: number;
  readonly #iterations: number;
  #master: Buffer;
  readonly #reloadMaster: (() => MasterKeySource) | undefined;
  #lastReload = Number.NEGATIVE_INFINITY;
  /** SHA-256 of the material last read and found wrong: the same material is not derived again (PBKDF2 is slow). */
  #lastReloadDigest: string | undefined;
  #roots = new Map<number, Buffer>();
  #current: number;
  #ownerKeys = new Map<string, Buffer>();

  private constructor(opts: SecretStoreOptions, master: Buffer, meta: MetaRecord) {
    this.#store = opts.store;
    this.#clock = opts.clock ?? systemClock;
    this.#maxVersions = opts.maxVersions ?? 5;
    this.#maxValueBytes = opts.maxValueBytes ?? 65_536;
    this.#iterations = opts.kdfIterations ?? 600_000;
    this.#master = master;
    this.#reloadMaster = opts.reloadMaster;
    this.#current = meta.current;
    this.#loadRoots(meta);
  }

  /**
   * Opens the store, creating its root key on first use. Throws GH_SECRETS_MASTER_KEY_MISMATCH when the master key is
   * not the one the store was sealed with, GH_SECRETS_CORRUPT when `_meta` is damaged.
   */
  static async open(opts: SecretStoreOptions): Promise<SecretStore> {
    let meta = parseMeta(await opts.store.get(NS_SECRETS, META_KEY));
    if (meta === undefined) {
      const { kdf, key } = await newKdf(opts.master, opts.kdfIterations ?? 600_000);
      const root = generateKey();
      const now = (opts.clock ?? systemClock).now();
      const fresh: MetaRecord = { v: 1, kdf, check: masterCheck(key), current: 1, roots: { 1: { ...wrapRoot(key, 1, root), created_at: now } }, created_at: now };
      root.fill(0);
      if (await opts.store.putIfAbsent(NS_SECRETS, META_KEY, fresh)) return new SecretStore(opts, key, fresh);
      key.fill(0);
      // Another process created it first: open theirs.
      meta = parseMeta(await opts.store.get(NS_SECRETS, META_KEY)) as MetaRecord;
    }
    if (meta.kdf.alg !== opts.master.kdf) throw mismatch(`the store was sealed with master_key_kdf ${meta.kdf.alg}`);
    const key = await deriveMasterKey(opts.master, meta.kdf);
    if (!constantTimeEqual(masterCheck(key), meta.check)) {
      key.fill(0);
      throw mismatch(`the key from ${opts.master.source} does not match the store's key check`);
    }
    return new SecretStore(opts, key, meta);
  }

  #loadRoots(meta: MetaRecord): void {
    for (const [gen, r] of Object.entries(meta.roots)) {
      const g = Number(gen);
      if (!this.#roots.has(g)) this.#roots.set(g, unwrapRoot(this.#master, g, r));
    }
    this.#current = meta.current;
  }

  /** The root of `gen`; another process may have made it since we opened (rekey), so `_meta` is read again once. */
  async #root(gen: number): Promise<Buffer> {
    const have = this.#roots.get(gen);
    if (have) return have;
    const meta = parseMeta(await this.#store.get(NS_SECRETS, META_KEY));
    if (meta && (constantTimeEqual(masterCheck(this.#master), meta.check) || (await this.#adoptReloadedMaster(meta)))) this.#loadRoots(meta);
    const root = this.#roots.get(gen);
    if (!root) throw meta && meta.roots[gen] ? mismatch('the store was sealed with another master key since this process opened it') : corrupt(`root key ${gen} is gone`);
    return root;
  }

  /**
   * After `rotate-master` elsewhere, this process's key no longer passes the store's check, and a root made since
   * (`rekey`) is wrapped under the new key only. Re-reads the key source (rate-limited) and adopts a key that passes.
   */
  async #adoptReloadedMaster(meta: MetaRecord): Promise<boolean> {
    const now = this.#clock.now();
    if (!this.#reloadMaster || now - this.#lastReload < MASTER_RELOAD_MS) return false;
    this.#lastReload = now;
    let src: MasterKeySource;
    try {
      src = this.#reloadMaster();
    } catch {
      return false; // the file is unreadable right now (being replaced): the next attempt may succeed
    }
    const digest = createHash('sha256').update(src.material).digest('base64');
    if (src.kdf !== meta.kdf.alg || digest === this.#lastReloadDigest) {
      src.material.fill(0);
      return false;
    }
    const key = await deriveMasterKey(src, meta.kdf);
    src.material.fill(0);
    if (!constantTimeEqual(masterCheck(key), meta.check)) {
      key.fill(0);
      this.#lastReloadDigest = digest;
      return false;
    }
    this.#master.fill(0);
    this.#master = key;
    return true;
  }

  #ownerKey(gen: number, root: Buffer, owner: string): Buffer {
    const id = `${gen}\0${owner}`;
    let key = this.#ownerKeys.get(id);
    if (!key) {
      if (this.#ownerKeys.size >= MAX_OWNER_KEYS) this.#ownerKeys.clear();
      key = hkdfSha256(root, HKDF_SALT, Buffer.from(`owner\0${owner}`, 'utf8'), 32);
      this.#ownerKeys.set(id, key);
    }
    return key;
  }

  /**
   * The generation new values are sealed under: the store's, not the one this process saw at open. Another process may
   * have rekeyed since (and pruned the old root, after a suspected compromise): a long-running writer must not go on
   * sealing under the retired root. Still on a superseded master key, it cannot load the new root and refuses.
   */
  async #currentGen(): Promise<number> {
    const meta = parseMeta(await this.#store.get(NS_SECRETS, META_KEY));
    if (!meta) throw corrupt('_meta is gone');
    if (meta.current !== this.#current || !this.#roots.has(meta.current)) await this.#root(meta.current);
    this.#current = meta.current;
    return meta.current;
  }

  #sealVersion(owner: string, name: string, version: number, value: Uint8Array, by: string | undefined, gen: number = this.#current): VersionRecord {
    const nonce = secureRandom(NONCE);
    const ct = seal(ALG, this.#ownerKey(gen, this.#roots.get(gen) as Buffer, owner), nonce, value, valueAad(owner, name, version));
    return { version, gen, nonce: b64(nonce), ct: b64(ct), created_at: this.#clock.now(), ...(by ? { created_by: by } : {}) };
  }

  async #openVersion(rec: SecretRecord, v: VersionRecord): Promise<Buffer> {
    const root = await this.#root(v.gen);
    try {
      return open(ALG, this.#ownerKey(v.gen, root, rec.owner), Buffer.from(v.nonce, 'base64'), Buffer.from(v.ct, 'base64'), valueAad(rec.owner, rec.name, v.version));
    } catch (e) {
      throw corrupt(`${rec.owner}/${rec.name} version ${v.version} does not open`, e);
    }
  }

  /** Stores a new version of a secret; returns its version number. Older versions beyond max_versions are dropped. */
  async set(owner: string, name: string, value: string | Uint8Array, opts: SetOptions = {}): Promise<{ version: number }> {
    checkAddress(owner, name);
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw invalid('value (empty)');
    if (bytes.length > this.#maxValueBytes) throw invalid(`value (${bytes.length} bytes, more than max_value_bytes ${this.#maxValueBytes})`);
    if (opts.description !== undefined && (opts.description.length > 256 || /[\0-\x1f]/.test(opts.description))) throw invalid('description (at most 256 printable characters)');
    let version = 0;
    const gen = await this.#currentGen();
    await this.#store.update<SecretRecord>(NS_SECRETS, `${owner}/${name}`, (raw) => {
      const cur = raw === undefined ? undefined : parseRecord(raw, owner, name);
      const now = this.#clock.now();
      version = cur ? cur.next_version : 1;
      const v = this.#sealVersion(owner, name, version, bytes, opts.by, gen);
      const versions = [...(cur?.versions ?? []), v].slice(-this.#maxVersions);
      const description = opts.description ?? cur?.description;
      return { v: 1, owner, name, ...(description ? { description } : {}), created_at: cur?.created_at ?? now, updated_at: now, next_version: version + 1, versions };
    });
    return { version };
  }

  /** The value (newest version, or `version`). The caller should zero the buffer once used. */
  async get(owner: string, name: string, opts: { version?: number } = {}): Promise<Buffer> {
    checkAddress(owner, name);
    const rec = await this.#record(owner, name);
    if (!rec) throw notFound(owner, name);
    const v = opts.version === undefined ? rec.versions[rec.versions.length - 1] : rec.versions.find((x) => x.version === opts.version);
    if (!v) throw notFound(owner, name, opts.version);
    return this.#openVersion(rec, v);
  }

  async #record(owner: string, name: string): Promise<SecretRecord | undefined> {
    const raw = await this.#store.get(NS_SECRETS, `${owner}/${name}`);
    return raw === undefined ? undefined : parseRecord(raw, owner, name);
  }

  /** Metadata only (no value): one secret, or undefined. */
  async describe(owner: string, name: string): Promise<SecretInfo | undefined> {
    checkAddress(owner, name);
    const rec = await this.#record(owner, name);
    return rec && info(rec);
  }

  /** Metadata of every secret, or of one owner's. */
  async list(owner?: string): Promise<SecretInfo[]> {
    if (owner !== undefined && !SECRET_OWNER_RE.test(owner)) throw invalid('owner (global, tenant:ID or user:ID)');
    const rows = await this.#store.list(NS_SECRETS, owner === undefined ? {} : { prefix: `${owner}/` });
    return rows.filter((r) => r.key !== META_KEY).map((r) => {
      const slash = r.key.lastIndexOf('/');
      return info(parseRecord(r.value, r.key.slice(0, slash), r.key.slice(slash + 1)));
    });
  }

  /** Deletes a secret and all its versions; false when there was none. */
  async delete(owner: string, name: string): Promise<boolean> {
    checkAddress(owner, name);
    return this.#store.delete(NS_SECRETS, `${owner}/${name}`);
  }

  /**
   * Rewraps the root keys under a new master key, in one atomic update: every process still holding the old key keeps
   * its unwrapped roots and goes on reading; the next to open needs the new key.
   */
  async rotateMaster(next: MasterKeySource): Promise<{ kdf: MasterKdf['alg'] }> {
    const { kdf, key } = await newKdf(next, this.#iterations);
    const old = this.#master;
    await this.#store.update<MetaRecord>(NS_SECRETS, META_KEY, (raw) => {
      const meta = parseMeta(raw);
      if (!meta || !constantTimeEqual(masterCheck(old), meta.check)) throw mismatch('the store was rotated by another process meanwhile');
      const roots: MetaRecord['roots'] = {};
      for (const [gen, r] of Object.entries(meta.roots)) {
        const root = unwrapRoot(old, Number(gen), r);
        roots[Number(gen)] = { ...r, ...wrapRoot(key, Number(gen), root) };
        root.fill(0);
      }
      return { ...meta, kdf, check: masterCheck(key), roots, rotated_at: this.#clock.now() };
    });
    this.#master = key;
    old.fill(0);
    return { kdf: kdf.alg };
  }

  /** A new root generation; every stored value is re-encrypted under it. Older roots stay (retired) until prune. */
  async rekey(): Promise<{ generation: number; reencrypted: number }> {
    const root = generateKey();
    let gen = 0;
    const master = this.#master;
    const meta = await this.#store.update<MetaRecord>(NS_SECRETS, META_KEY, (raw) => {
      const m = parseMeta(raw);
      if (!m || !constantTimeEqual(masterCheck(master), m.check)) throw mismatch('the store was rotated by another process meanwhile');
      gen = Math.max(...Object.keys(m.roots).map(Number)) + 1;
      const now = this.#clock.now();
      const roots: MetaRecord['roots'] = {};
      for (const [g, r] of Object.entries(m.roots)) roots[Number(g)] = r.retired_at === undefined ? { ...r, retired_at: now } : r;
      roots[gen] = { ...wrapRoot(master, gen, root), created_at: now };
      return { ...m, roots, current: gen };
    });
    this.#roots.set(gen, root);
    this.#loadRoots(meta as MetaRecord);
    let reencrypted = 0;
    for (const row of await this.#store.list(NS_SECRETS)) {
      if (row.key === META_KEY) continue;
      const slash = row.key.lastIndexOf('/');
      const owner = row.key.slice(0, slash);
      const name = row.key.slice(slash + 1);
      // Old values are opened first (async: a root may need loading), then swapped in atomically if unchanged since.
      const rec = parseRecord(row.value, owner, name);
      const plain = new Map<number, Buffer>();
      for (const v of rec.versions) if (v.gen !== gen) plain.set(v.version, await this.#openVersion(rec, v));
      if (plain.size === 0) continue;
      await this.#store.update<SecretRecord>(NS_SECRETS, row.key, (raw) => {
        if (raw === undefined) return undefined;
        const cur = parseRecord(raw, owner, name);
        const versions = cur.versions.map((v) => {
          const p = plain.get(v.version);
          return p && v.gen !== gen ? { ...this.#sealVersion(owner, name, v.version, p, v.created_by), created_at: v.created_at } : v;
        });
        return { ...cur, versions };
      });
      for (const p of plain.values()) p.fill(0);
      reencrypted += 1;
    }
    return { generation: gen, reencrypted };
  }

  /** Drops retired root generations no stored value uses any more; returns those dropped. */
  async prune(): Promise<number[]> {
    const used = new Set<number>([this.#current]);
    for (const row of await this.#store.list(NS_SECRETS)) {
      if (row.key === META_KEY) continue;
      const slash = row.key.lastIndexOf('/');
      for (const v of parseRecord(row.value, row.key.slice(0, slash), row.key.slice(slash + 1)).versions) used.add(v.gen);
    }
    const dropped: number[] = [];
    await this.#store.update<MetaRecord>(NS_SECRETS, META_KEY, (raw) => {
      const m = parseMeta(raw) as MetaRecord;
      const roots: MetaRecord['roots'] = {};
      for (const [g, r] of Object.entries(m.roots)) {
        if (used.has(Number(g)) || r.retired_at === undefined || Number(g) === m.current) roots[Number(g)] = r;
        else dropped.push(Number(g));
      }
      return { ...m, roots };
    });
    for (const g of dropped) {
      this.#roots.get(g)?.fill(0);
      this.#roots.delete(g);
      for (const id of [...this.#ownerKeys.keys()]) if (id.startsWith(`${g}\0`)) this.#ownerKeys.delete(id);
    }
    return dropped;
  }

  /** The store's state: root generations and which is current, the KDF, when the master key last rotated. */
  async status(): Promise<{ kdf: MasterKdf['alg']; generations: number[]; current: number; secrets: number; created_at: number; rotated_at?: number }> {
    const meta = parseMeta(await this.#store.get(NS_SECRETS, META_KEY)) as MetaRecord;
    const secrets = (await this.#store.list(NS_SECRETS)).length - 1;
    return { kdf: meta.kdf.alg, generations: Object.keys(meta.roots).map(Number), current: meta.current, secrets, created_at: meta.created_at, ...(meta.rotated_at ? { rotated_at: meta.rotated_at } : {}) };
  }

  /** The change feed's head, to follow changes from (see changedSince). */
  headSeq(): Promise<number> {
    return this.#store.headSeq(NS_SECRETS);
  }

  /** Calls `fn(owner, name)` for each secret changed after `sinceSeq`; returns the new position. */
  changedSince(sinceSeq: number, fn: (owner: string, name: string) => void): Promise<number> {
    return readChanges(this.#store, NS_SECRETS, sinceSeq, (c) => {
      if (c.key === META_KEY) return;
      const slash = c.key.lastIndexOf('/');
      if (slash > 0) fn(c.key.slice(0, slash), c.key.slice(slash + 1));
    });
  }

  /** Forgets the keys held in memory. */
  close(): void {
    this.#master.fill(0);
    for (const r of this.#roots.values()) r.fill(0);
    for (const k of this.#ownerKeys.values()) k.fill(0);
    this.#roots.clear();
    this.#ownerKeys.clear();
  }
}

function info(rec: SecretRecord): SecretInfo {
  const last = rec.versions[rec.versions.length - 1] as VersionRecord;
  return {
    owner: rec.owner, name: rec.name, ...(rec.description ? { description: rec.description } : {}),
    version: last.version, versions: rec.versions.map((v) => v.version),
    created_at: rec.created_at, updated_at: rec.updated_at, ...(last.created_by ? { updated_by: last.created_by } : {}),
  };
}

/**
 * @peculiar/x509 builds on tsyringe, which refuses to load without a Reflect metadata polyfill (its README:
 * "This library requires a Reflect API polyfill"). tsyringe only calls getMetadata, getOwnMetadata and
 * defineMetadata, and x509 records no design-time metadata, so this small WeakMap store is enough. It installs
 * nothing when a real polyfill (reflect-metadata) is already present. Import it before '@peculiar/x509'.
 */
type Key = string | symbol;
type Target = object;

interface ReflectMetadata {
  getMetadata?(key: Key, target: Target, prop?: Key): unknown;
  getOwnMetadata?(key: Key, target: Target, prop?: Key): unknown;
  defineMetadata?(key: Key, value: unknown, target: Target, prop?: Key): void;
}

const R = Reflect as typeof Reflect & ReflectMetadata;

if (typeof R.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<Key | undefined, Map<Key, unknown>>>();
  const own = (target: Target, prop: Key | undefined, create: boolean): Map<Key, unknown> | undefined => {
    let byProp = store.get(target);
    if (!byProp) {
      if (!create) return undefined;
      byProp = new Map();
      store.set(target, byProp);
    }
    let m = byProp.get(prop);
    if (!m && create) {
      m = new Map();
      byProp.set(prop, m);
    }
    return m;
  };
  const define = (name: keyof ReflectMetadata, fn: (...a: never[]) => unknown) =>
    Object.defineProperty(Reflect, name, { value: fn, configurable: true, writable: true, enumerable: false });
  define('defineMetadata', (key: Key, value: unknown, target: Target, prop?: Key) => {
    own(target, prop, true)?.set(key, value);
  });
  define('getOwnMetadata', (key: Key, target: Target, prop?: Key) => own(target, prop, false)?.get(key));
  define('getMetadata', (key: Key, target: Target, prop?: Key) => {
    for (let t: Target | null = target; t; t = Object.getPrototypeOf(t) as Target | null) {
      const m = own(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  });
}

export {};

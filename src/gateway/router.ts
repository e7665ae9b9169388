import type { RouteConfig } from '../config/index.js';

export interface Route {
  config: RouteConfig;
  name: string;
  prefix: string;
}

/** Longest-prefix routing on path-segment boundaries: /echo matches /echo and /echo/x, never /echoes. */
export class Router {
  readonly #routes: Route[];
  constructor(routes: RouteConfig[]) {
    this.#routes = routes
      .map((config, i) => ({ config, name: config.name ?? `route${i}`, prefix: config.prefix.length > 1 ? config.prefix.replace(/\/+$/, '') : '/' }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }
  match(path: string): Route | undefined {
    for (const r of this.#routes) {
      if (r.prefix === '/') return r;
      if (path.startsWith(r.prefix) && (path.length === r.prefix.length || path.charCodeAt(r.prefix.length) === 47)) return r;
    }
    return undefined;
  }
  get routes(): readonly Route[] {
    return this.#routes;
  }
}

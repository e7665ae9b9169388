import { readFileSync } from 'node:fs';

let packageVersion: string | undefined;

/** This package's version (package.json), for `--version`, the audit trail, metrics and backups. */
export function gatehouseVersion(): string {
  if (packageVersion === undefined) {
    try {
      // src/core/ and dist/core/ are both two levels below the package root.
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      packageVersion = typeof pkg.version === 'string' ? pkg.version.slice(0, 64) : 'unknown';
    } catch {
      packageVersion = 'unknown';
    }
  }
  return packageVersion;
}

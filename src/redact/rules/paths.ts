/**
 * Sensitive file paths (seed 004: "Certificate content and file paths are redacted", "Sensitive file paths
 * are obfuscated") → `[FILE PATH REDACTED]`: key and certificate files (*.pem, *.key, *.p12 …, id_rsa),
 * secret and token files (/run/secrets/…, ~/.aws/credentials, .env, .netrc, token files), and configured
 * directories. URLs are not file paths (https://letsencrypt.org/certs/isrgrootx1.pem stays).
 */
import { ALNUM, PATH, SPACE, cls, runEnd, runStart } from '../chars.js';
import { PATH_REDACTED, type Rule, type ScanContext } from '../types.js';

/** Key and certificate containers: sensitive even as a bare file name ("loaded ca.pem"). */
const CERT_EXTENSIONS = ['.pem', '.crt', '.cer', '.der', '.p12', '.pfx', '.jks', '.keystore', '.truststore', '.ppk', '.p8', '.pk8', '.kdbx', '.key'];
const KEY_NAMES = ['id_rsa', 'id_dsa', 'id_ecdsa', 'id_ed25519'];
/** Files that hold credentials by convention. */
const SECRET_FILES = new Set(['.netrc', '_netrc', '.pgpass', '.htpasswd', '.git-credentials', '.npmrc', '.pypirc', '.env', 'shadow', 'gshadow', 'credentials', 'kubeconfig', 'passwd', '.passwd', 'pwfile']);
/** World-readable system files whose names look like secret files. */
const PUBLIC_FILES = new Set(['/etc/passwd', '/etc/group']);
/** Directories that hold credentials by convention (any path through them). */
const SECRET_DOT_DIRS = ['/.ssh/', '/.gnupg/', '/.aws/', '/.docker/', '/.kube/', '/.gcloud/', '/.azure/'];
/** Directory names that hold secrets when the path is a file-system path (not a URL path such as /v1/secrets/). */
const SECRET_DIRS = ['secrets', 'secret', 'private', 'keys', 'credentials', 'tokens'];
const FS_ROOTS = ['$', '/etc/', '/run/', '/var/', '/home/', '/root/', '/opt/', '/srv/', '/usr/', '/tmp/', '/mnt/', '/data/', '/app/', '/users/', '~/', './', '../', '/private/'];

export const PATH_TRIGGERS = [
  ...CERT_EXTENSIONS, ...KEY_NAMES, '.netrc', '_netrc', '.pgpass', '.htpasswd', '.git-credentials', '.npmrc', '.pypirc', '.env', 'shadow',
  'credential', 'kubeconfig', 'passw', 'pwfile', '.ssh', '.gnupg', '.aws', '.docker', '.kube', '.gcloud', '.azure', 'secret', 'private', 'keys', 'token',
];

/** The longest file name Linux, macOS and Windows file systems allow. */
const NAME_MAX = 255;

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function isFileSystemPath(p: string): boolean {
  return FS_ROOTS.some((r) => p.startsWith(r)) || /^[a-z]:\//.test(p);
}

/** Decides on a lowercased path with forward slashes. */
export function isSensitivePath(p: string, dirs: readonly string[]): boolean {
  const hasSep = p.includes('/');
  const base = baseName(p);
  if (PUBLIC_FILES.has(p)) return false;
  for (const d of dirs) if (p.includes(d) || (p + '/').startsWith(d)) return true;
  for (const ext of CERT_EXTENSIONS) {
    if (base.length > ext.length && base.endsWith(ext)) {
      // "event.key" and "stripe.api.key" are object paths, not files: a bare *.key needs a directory.
      if (ext === '.key' && !hasSep) return false;
      return true;
    }
  }
  if (KEY_NAMES.some((k) => base === k || base.startsWith(k + '.'))) return true;
  if (SECRET_FILES.has(base) || (base.startsWith('.env.') && !/\.(example|sample|template|dist)$/.test(base))) {
    return hasSep || base.startsWith('.');
  }
  if (!hasSep) return false;
  if (SECRET_DOT_DIRS.some((d) => p.includes(d) || p.startsWith(d.slice(1)))) return true;
  if (!isFileSystemPath(p)) return false;
  const segments = p.split('/');
  // The first directory of an absolute path is a root (/private/var/… on macOS is not a private key directory).
  if (segments.slice(p.startsWith('/') ? 2 : 1, -1).some((s) => SECRET_DIRS.includes(s))) return true;
  // Token and secret files: /var/run/…/token, app/secret.json, client_secret_123.json, db-credentials.yaml.
  // (Source files such as auth/tokens.ts are code, not secret stores: only data extensions count.)
  // The regex backtracks from every "_token" in a name that never ends in such an extension, so it only sees names a
  // file system can hold (NAME_MAX, 255 bytes): a 4 KB one took milliseconds each, a second per MB of log.
  if (base.length > NAME_MAX) return false;
  return /^(tokens?|secrets?|credentials?|passwords?)(\.(json|ya?ml|txt|toml|ini|conf|cfg|env|properties|xml|db|dat|bin|gpg|asc|enc|b64))?$|(^|[-_.])(tokens?|secrets?|credentials?|passwords?)[-_.a-z0-9]*\.(json|ya?ml|txt|toml|ini|conf|env)$/.test(base);
}

/** No separator, no dot, not id_…: a word, not a file. */
function bareWord(text: string, ps: number, pe: number): boolean {
  for (let i = ps; i < pe; i++) {
    const c = text.charCodeAt(i);
    if (c === 47 || c === 92 || c === 46) return false; // / \ .
  }
  return !(text.charCodeAt(ps) === 105 && text.charCodeAt(ps + 1) === 100 && text.charCodeAt(ps + 2) === 95); // id_
}

const HTTP_METHODS = ['GET ', 'HEAD ', 'POST ', 'PUT ', 'DELETE ', 'PATCH ', 'OPTIONS '];
function afterHttpMethod(text: string, ps: number): boolean {
  return HTTP_METHODS.some((m) => ps >= m.length && text.startsWith(m, ps - m.length));
}

export function pathRule(extraTriggers: readonly string[]): Rule {
  return {
    id: 'file-path',
    category: 'file_path',
    triggers: [...PATH_TRIGGERS, ...extraTriggers],
    match(ctx: ScanContext, start: number, end: number, index: number) {
      const { text } = ctx;
      if (start < ctx.until[index]!) return false; // this run of path characters was already judged
      let pe = runEnd(text, end, PATH);
      let ps = runStart(text, start, PATH, ctx.floor);
      ctx.until[index] = pe;
      // A Windows drive: C:\certs\ca.pem
      if (ps >= 2 && text.charCodeAt(ps - 1) === 58 && cls(text, ps - 2) & ALNUM && !(cls(text, ps - 3) & ALNUM) && ps - 2 >= ctx.floor) ps -= 2;
      // URLs are not file paths, nor is the path of an HTTP request line ("GET /certs/ca.pem HTTP/1.1").
      else if (text.charCodeAt(ps - 1) === 58 && text.startsWith('//', ps)) return false;
      else if (afterHttpMethod(text, ps)) return false;
      // A path under a variable: ${GATEHOUSE_HOME}/keys/signing.json
      if (text.charCodeAt(ps - 1) === 125 /* } */) {
        const from = Math.max(ctx.floor, ps - 66);
        const open = text.slice(from, ps).lastIndexOf('${');
        if (open >= 0) ps = from + open;
      }
      while (pe > ps && (text.charCodeAt(pe - 1) === 46 || text.charCodeAt(pe - 1) === 44)) pe--; // sentence punctuation
      if (pe - ps > 4096) return false;
      // A bare word ("password", "secrets") is a file name only with a dot in it or as id_rsa & co: no need to look closer.
      if (ctx.options.dirs.length === 0 && bareWord(text, ps, pe)) return false;
      const p = text.slice(ps, pe).toLowerCase().replaceAll('\\', '/');
      // "tls.crt: LS0t…" (a Kubernetes secret's data key) names a file but is a key; its value is judged on its own.
      if (!p.includes('/') && text.charCodeAt(pe) === 58 && (pe + 1 >= text.length || cls(text, pe + 1) & SPACE)) return false;
      if (!isSensitivePath(p, ctx.options.dirs)) return false;
      ctx.push(ps, pe, PATH_REDACTED, 'file_path', 'file-path');
      return true;
    },
  };
}

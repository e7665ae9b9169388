/**
 * Loads the labeled corpus in test/fixtures/redact/*.txt (written for this project; see its README).
 *
 * Each non-comment line is `<category>\t<log line>`. In the log line, every secret is marked ⟦secret⟧ (or
 * ⟦category|secret⟧ when it differs from the line's category); "clean" lines have none. {{kind}} stands
 * for a generated value of a provider's documented shape (a GitHub token, a JWT …), filled from a seeded
 * generator so the corpus is stable and no real credential is ever committed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';

export interface CorpusSecret {
  value: string;
  category: string;
}
export interface CorpusLine {
  file: string;
  lineNo: number;
  category: string;
  text: string;
  secrets: CorpusSecret[];
}

/** mulberry32: a small seeded PRNG, so generated values are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B64URL = `${B62}-_`;
const B64 = `${B62}+/`;
const HEX = '0123456789abcdef';
const UPPER32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const PASSWORDS = ['Tr0ub4dor&3', 'correct-horse-battery-staple', 'P@ssw0rd2024!', 'Summer2025#', 's3cr3t!Pass', 'hunter2hunter2', 'Xk9#mQ2$vL', 'letmein-42', 'MyDogRex1987', 'qwerty!23456', 'Zebra*Orange*71', 'n0t-so-s3cret'];

function gen(kind: string, rnd: () => number): string {
  const pick = (alphabet: string, n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    return s;
  };
  const b64url = (s: string) => Buffer.from(s).toString('base64url');
  const b64lines = (bytes: number, sep: string) => {
    const body = Buffer.from(Array.from({ length: bytes }, () => Math.floor(rnd() * 256))).toString('base64');
    return (body.match(/.{1,64}/g) ?? []).join(sep);
  };
  const pem = (label: string, sep: string, derPrefix: string) => `-----BEGIN ${label}-----${sep}${derPrefix}${b64lines(600, sep).slice(derPrefix.length)}${sep}-----END ${label}-----`;
  switch (kind) {
    case 'ghp': return `ghp_${pick(B62, 36)}`;
    case 'gho': return `gho_${pick(B62, 36)}`;
    case 'ghs': return `ghs_${pick(B62, 36)}`;
    case 'github_pat': return `github_pat_11${pick(UPPER32, 20)}_${pick(B62, 59)}`;
    case 'glpat': return `glpat-${pick(B64URL.slice(0, 63), 20)}`;
    case 'slack_bot': return `xoxb-${pick('0123456789', 12)}-${pick('0123456789', 13)}-${pick(B62, 24)}`;
    case 'slack_user': return `xoxp-${pick('0123456789', 12)}-${pick('0123456789', 12)}-${pick('0123456789', 13)}-${pick(HEX, 32)}`;
    case 'slack_hook': return `T${pick(UPPER32, 8)}/B${pick(UPPER32, 10)}/${pick(B62, 24)}`;
    case 'stripe_live': return `sk_live_${pick(B62, 24)}`;
    case 'stripe_test': return `sk_test_${pick(B62, 24)}`;
    case 'stripe_rk': return `rk_live_${pick(B62, 24)}`;
    case 'whsec': return `whsec_${pick(B62, 32)}`;
    case 'aws_id': return `AKIA${pick(UPPER32, 16)}`;
    case 'aws_sts_id': return `ASIA${pick(UPPER32, 16)}`;
    case 'aws_secret': return pick(B64, 40);
    case 'google': return `AIza${pick(B64URL, 35)}`;
    case 'openai': return `sk-proj-${pick(B64URL, 64)}`;
    case 'openai_legacy': return `sk-${pick(B62, 48)}`;
    case 'anthropic': return `sk-ant-api03-${pick(B64URL, 93)}AA`;
    case 'npm': return `npm_${pick(B62, 36)}`;
    case 'sendgrid': return `SG.${pick(B64URL, 22)}.${pick(B64URL, 43)}`;
    case 'hf': return `hf_${pick(B62, 34)}`;
    case 'do': return `dop_v1_${pick(HEX, 64)}`;
    case 'jwt': {
      const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: pick(B62, 8) }));
      const payload = b64url(JSON.stringify({ sub: `user-${pick('0123456789', 5)}`, iss: 'https://idp.example.com', aud: 'api', iat: 1760000000, exp: 1760003600 }));
      return `${header}.${payload}.${pick(B64URL, 342)}`;
    }
    case 'jwt_hs': {
      const header = b64url('{"alg":"HS256","typ":"JWT"}');
      const payload = b64url(JSON.stringify({ sub: pick(B62, 10), scope: 'read write', exp: 1760003600 }));
      return `${header}.${payload}.${pick(B64URL, 43)}`;
    }
    case 'gh1': return `gh1.k${pick('0123456789', 4)}.${b64url(JSON.stringify({ sub: 'agent-ci', scopes: ['repo:read'], iat: 1760000000, exp: 1760003600, jti: pick(B62, 12) }))}.${pick(B64URL, 43)}`;
    case 'ghkey': return `gh_${pick(B62, 16)}_${pick(B64URL, 43)}`;
    case 'password': return PASSWORDS[Math.floor(rnd() * PASSWORDS.length)]!;
    case 'b62_16': return pick(B62, 16);
    case 'b62_24': return pick(B62, 24);
    case 'b62_32': return pick(B62, 32);
    case 'b64_32': return Buffer.from(Array.from({ length: 32 }, () => Math.floor(rnd() * 256))).toString('base64');
    case 'b64_64': return Buffer.from(Array.from({ length: 64 }, () => Math.floor(rnd() * 256))).toString('base64');
    case 'b64_256': return Buffer.from(Array.from({ length: 256 }, () => Math.floor(rnd() * 256))).toString('base64');
    case 'b64url_32': return Buffer.from(Array.from({ length: 32 }, () => Math.floor(rnd() * 256))).toString('base64url');
    case 'hex16': return pick(HEX, 16);
    case 'hex32': return pick(HEX, 32);
    case 'hex40': return pick(HEX, 40);
    case 'hex64': return pick(HEX, 64);
    case 'uuid': return `${pick(HEX, 8)}-${pick(HEX, 4)}-4${pick(HEX, 3)}-a${pick(HEX, 3)}-${pick(HEX, 12)}`;
    case 'digits6': return pick('0123456789', 6);
    case 'pem_cert_esc': return pem('CERTIFICATE', '\\n', 'MIID');
    case 'pem_key_esc': return pem('PRIVATE KEY', '\\n', 'MIIE');
    case 'pem_rsa_esc': return pem('RSA PRIVATE KEY', '\\n', 'MIIE');
    case 'pem_ec_flat': return pem('EC PRIVATE KEY', ' ', 'MHcC');
    case 'pem_cert_flat': return pem('CERTIFICATE', ' ', 'MIIC');
    case 'pem_openssh_esc': return pem('OPENSSH PRIVATE KEY', '\\n', 'b3Bl');
    case 'der_b64': return `MIIB${b64lines(300, '').slice(4)}`;
    case 'png_b64': return `iVBORw0KGgoAAAANSUhEUgAA${b64lines(120, '')}`;
    case 'basic': return Buffer.from(`${pick('abcdefghij', 6)}:${PASSWORDS[Math.floor(rnd() * PASSWORDS.length)]}`).toString('base64');
    default: throw new Error(`unknown corpus generator {{${kind}}}`);
  }
}

const MARK = /⟦([^⟧]*)⟧/g;

/** Expands the {{kind}} placeholders of one line, deterministically. */
function expand(line: string, seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  const rnd = prng(h.readUInt32LE(0));
  return line.replace(/\{\{([a-z0-9_]+)\}\}/g, (_m, kind: string) => gen(kind, rnd));
}

export function loadCorpus(dir: URL): CorpusLine[] {
  const out: CorpusLine[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    const lines = readFileSync(new URL(file, dir), 'utf8').split('\n');
    lines.forEach((raw, i) => {
      if (raw.trim() === '' || raw.startsWith('#')) return;
      const tab = raw.indexOf('\t');
      if (tab < 0) throw new Error(`${file}:${i + 1}: expected "<category>\\t<line>"`);
      const category = raw.slice(0, tab);
      const expanded = expand(raw.slice(tab + 1), `${file}:${i + 1}`);
      const secrets: CorpusSecret[] = [];
      const text = expanded.replace(MARK, (_m, inner: string) => {
        const bar = inner.indexOf('|');
        const own = bar > 0 && /^[a-z_]+$/.test(inner.slice(0, bar));
        const value = own ? inner.slice(bar + 1) : inner;
        secrets.push({ value, category: own ? inner.slice(0, bar) : category });
        return value;
      });
      if ((category === 'clean') !== (secrets.length === 0)) throw new Error(`${file}:${i + 1}: clean lines have no ⟦secret⟧, others at least one`);
      out.push({ file, lineNo: i + 1, category, text, secrets });
    });
  }
  return out;
}

/** Seed 001 threat 4: SSRF via http_request_test — every trick to reach internal addresses is refused. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUrl, compileUrlConstraint, isPrivateAddress } from '../../src/authz/index.js';
import { urlConstraintSchema } from '../../src/config/schema/authz.js';
import { fakeResolver } from '../authz/helpers.js';

const c = (input: Record<string, unknown> = {}) => compileUrlConstraint(urlConstraintSchema.parse({ hosts: ['*'], ...input }));
const resolve = fakeResolver({
  'public.example': ['93.184.215.14'],
  'internal.example': ['10.1.2.3'],
  'rebind.example': ['93.184.215.14', '127.0.0.1'],
  'v6loop.example': ['::1'],
  'mapped.example': ['::ffff:169.254.169.254'],
  'metadata.google.internal': ['169.254.169.254'],
  'aws6.example': ['fd00:ec2::254'],
  'cgnat.example': ['100.100.100.200'],
});

describe('SSRF: addresses', () => {
  for (const url of [
    'http://127.0.0.1/',
    'http://127.1/',
    'http://2130706433/',
    'http://0x7f000001/',
    'http://0177.0.0.1/',
    'http://0.0.0.0/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:7f00:1]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[fe80::1]/',
    'http://10.0.0.1/',
    'http://172.16.5.4/',
    'http://192.168.1.1/',
    'http://100.64.0.1/',
    'http://[fc00::1]/',
    'http://224.0.0.1/',
  ]) {
    test(`refuses ${url}`, async () => {
      const reason = await checkUrl(url, c(), resolve);
      assert.match(reason ?? '', /private|loopback|link-local|metadata/);
    });
  }

  test('a public address passes', async () => {
    assert.equal(await checkUrl('https://public.example/x', c(), resolve), undefined);
  });
});

describe('SSRF: names and DNS', () => {
  test('a name resolving to a private address is refused', async () => {
    assert.match((await checkUrl('http://internal.example/', c(), resolve)) ?? '', /10\.1\.2\.3/);
  });
  test('DNS rebinding: one private answer among public ones is refused', async () => {
    assert.match((await checkUrl('http://rebind.example/', c(), resolve)) ?? '', /127\.0\.0\.1/);
  });
  test('IPv6 loopback, IPv4-mapped metadata, AWS IPv6 metadata and CGNAT metadata are refused', async () => {
    for (const h of ['v6loop.example', 'mapped.example', 'aws6.example', 'cgnat.example', 'metadata.google.internal']) {
      assert.ok(await checkUrl(`http://${h}/`, c(), resolve), h);
    }
  });
  test('a name that does not resolve is refused (fail closed)', async () => {
    assert.match((await checkUrl('http://nxdomain.example/', c(), resolve)) ?? '', /does not resolve/);
  });
  test('a resolver that returns nothing is refused', async () => {
    assert.ok(await checkUrl('http://public.example/', c(), async () => []));
  });
});

describe('SSRF: allow-list and URL tricks', () => {
  const strict = c({ hosts: ['example.com', '*.example.com'] });
  const r = fakeResolver({ 'example.com': ['93.184.215.14'], 'api.example.com': ['93.184.215.14'], 'example.com.evil.test': ['93.184.215.14'] });

  test('exact and suffix hosts pass; others are refused', async () => {
    assert.equal(await checkUrl('https://example.com/', strict, r), undefined);
    assert.equal(await checkUrl('https://api.example.com/', strict, r), undefined);
    assert.match((await checkUrl('https://example.com.evil.test/', strict, r)) ?? '', /allow-list/);
    assert.match((await checkUrl('https://notexample.com/', strict, r)) ?? '', /allow-list/);
  });
  test('a trailing dot does not bypass the allow-list', async () => {
    assert.equal(await checkUrl('https://example.com./', strict, r), undefined);
  });
  test('userinfo tricks (http://example.com@evil/) are refused', async () => {
    assert.ok(await checkUrl('http://example.com@127.0.0.1/', strict, r));
    assert.match((await checkUrl('http://user:pw@example.com/', strict, r)) ?? '', /credentials/);
  });
  test('schemes other than http(s) are refused', async () => {
    for (const u of ['file:///etc/passwd', 'gopher://example.com/', 'ftp://example.com/', 'javascript:alert(1)']) assert.ok(await checkUrl(u, strict, r), u);
  });
  test('control characters the URL parser would strip are refused', async () => {
    assert.match((await checkUrl('http://exam\tple.com/', strict, r)) ?? '', /plain URL/);
    assert.match((await checkUrl('http://example.com/\n', strict, r)) ?? '', /plain URL/);
  });
  test('backslashes are refused: the WHATWG parser reads them as "/", other clients (urllib, requests) as part of the authority', async () => {
    // new URL() sees host example.com and path "/@169.254.169.254/"; Python's urlsplit sees host 169.254.169.254.
    for (const u of ['https://example.com\\@169.254.169.254/', 'http://api.example.com\\@evil.test/x', 'https://example.com/\\..\\x']) {
      assert.match((await checkUrl(u, strict, r)) ?? '', /plain URL/, u);
    }
  });
  test('suffix patterns never match IP literals', async () => {
    assert.ok(await checkUrl('http://93.184.215.14/', strict, r));
  });
  test('ports can be restricted', async () => {
    const p = c({ hosts: ['example.com'], ports: [443] });
    assert.equal(await checkUrl('https://example.com/', p, r), undefined);
    assert.match((await checkUrl('https://example.com:8443/', p, r)) ?? '', /port 8443/);
  });
  test('allow_cidrs opens exactly the listed private range', async () => {
    const open = c({ allow_cidrs: ['10.1.0.0/16'] });
    assert.equal(await checkUrl('http://internal.example/', open, resolve), undefined);
    assert.ok(await checkUrl('http://10.2.0.1/', open, resolve));
  });
  test('an empty allow-list allows no host', async () => {
    assert.ok(await checkUrl('https://example.com/', c({ hosts: [] }), r));
  });
});

test('isPrivateAddress covers the special ranges and nothing public', () => {
  for (const ip of ['127.0.0.1', '10.0.0.1', '169.254.169.254', '::1', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1', '::ffff:0:127.0.0.1', '::ffff:0:7f00:1', '0.0.0.0', '255.255.255.255', 'not-an-ip']) {
    assert.equal(isPrivateAddress(ip), true, ip);
  }
  for (const ip of ['8.8.8.8', '93.184.215.14', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(isPrivateAddress(ip), false, ip);
});

/** server.allowed_hosts: the Host matcher (wildcards, ports, IPv6 literals, case, trailing dot, overlong input) and its defaults. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HostAllowList, hostOfHeader, listenerHosts, parseHostPattern } from '../../src/core/hosts.js';
import { validateConfig } from '../../src/config/index.js';

describe('hostOfHeader', () => {
  test('lower case, without port and one trailing dot; IPv6 bracketed and canonical', () => {
    for (const [value, host] of [
      ['Example.COM', 'example.com'],
      ['example.com:8443', 'example.com'],
      ['example.com.', 'example.com'],
      ['example.com.:443', 'example.com'],
      ['example.com:', 'example.com'],
      ['127.0.0.1:8443', '127.0.0.1'],
      ['[::1]', '[::1]'],
      ['[::1]:8443', '[::1]'],
      ['[0:0:0:0:0:0:0:1]:1', '[::1]'],
      ['[2001:DB8::A]', '[2001:db8::a]'],
      ['svc_name', 'svc_name'],
    ] as const) {
      assert.equal(hostOfHeader(value), host, value);
    }
  });

  test('anything that is not a host is undefined', () => {
    for (const value of ['', '.', 'a..b', '.a', 'a.b..', 'a:b', 'a:123456', 'a:80:80', '::1', '[::1', '[::1]x', '[::1]:x', '[fe80::1%25eth0]', '[1.2.3.4]', 'a b', 'a/b', 'a@b', 'a%2eb', `${'a'.repeat(64)}.example`, `${'a.'.repeat(130)}com`, 'a'.repeat(301)]) {
      assert.equal(hostOfHeader(value), undefined, value);
    }
  });
});

describe('parseHostPattern', () => {
  test('names, IP literals and leftmost-label wildcards parse, normalised', () => {
    assert.deepEqual(parseHostPattern('App.Example.com.'), { exact: 'app.example.com' });
    assert.deepEqual(parseHostPattern('127.0.0.1'), { exact: '127.0.0.1' });
    assert.deepEqual(parseHostPattern('::1'), { exact: '[::1]' });
    assert.deepEqual(parseHostPattern('[2001:db8::1]'), { exact: '[2001:db8::1]' });
    assert.deepEqual(parseHostPattern('*.example.com'), { suffix: '.example.com' });
    assert.deepEqual(parseHostPattern('*.localhost'), { suffix: '.localhost' });
  });

  test('refused with a reason: "*", ports, wildcards over a TLD or an address, inner stars, junk', () => {
    for (const [text, reason] of [
      ['*', /any Host/],
      ['example.com:8443', /without a port/],
      ['[::1]:8443', /without a port|IPv6/],
      ['*.com', /two labels/],
      ['*.example.com:8443', /without a port/],
      ['*.10.0.0.1', /IP address/],
      ['*.0.1', /IP address/],
      ['a.*.example.com', /leftmost/],
      ['*.*.example.com', /leftmost/],
      ['https://example.com', /without a port|host name/],
      ['exa mple.com', /host name/],
      ['[fe80::1%eth0]', /IPv6/],
    ] as const) {
      const p = parseHostPattern(text);
      assert.equal(typeof p, 'string', text);
      assert.match(p as string, reason, text);
    }
  });

  test('the config refuses them naming the path', () => {
    assert.throws(() => validateConfig({ server: { allowed_hosts: ['example.com', '*.com'] } }, { env: {} }), /server\.allowed_hosts\[1\].*two labels/s);
    assert.throws(() => validateConfig({ server: { allowed_hosts: [] } }, { env: {} }), /server\.allowed_hosts.*at least one/s);
    assert.deepEqual(validateConfig({ server: { allowed_hosts: ['gw.example.com'] } }, { env: {} }).server.allowed_hosts, ['gw.example.com']);
    assert.equal(validateConfig({}, { env: {} }).server.allowed_hosts, undefined);
  });
});

describe('HostAllowList', () => {
  const list = new HostAllowList(['gw.example.com', '*.corp.example', '10.0.0.5', '::1']);

  test('allows listed names at any port, any case, with a trailing dot; subdomains under a wildcard', () => {
    for (const h of ['gw.example.com', 'GW.Example.Com:8443', 'gw.example.com.', 'a.corp.example', 'a.b.corp.example:1', '10.0.0.5:80', '[::1]:8443', '[0::1]']) {
      assert.equal(list.allows(h), true, h);
    }
  });

  test('refuses the rest: the bare wildcard domain, look-alikes, other addresses, malformed or missing Host', () => {
    for (const h of [undefined, '', 'evil.example', 'evil.example:8443', 'corp.example', 'xcorp.example', 'a.corp.example.evil.net', 'gw.example.com.evil.net', 'gw.example.comx', '10.0.0.50', '[::2]', '::1', 'gw.example.com..', 'a..corp.example', `${'a.'.repeat(200_000)}corp.example`]) {
      assert.equal(list.allows(h), false, String(h).slice(0, 40));
    }
  });

  test('matching is linear: a long hostile Host is answered at once', () => {
    const hostile = `${'a.'.repeat(500_000)}corp.example`;
    const t = process.hrtime.bigint();
    assert.equal(list.allows(hostile), false);
    assert.ok(process.hrtime.bigint() - t < 50_000_000n);
  });

  test('property: a name under a wildcard is allowed exactly when it ends with ".corp.example"', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,10}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), fc.constantFrom('corp.example', 'corp.examplex', 'xcorp.example', 'example'), (labels, domain) => {
        const host = `${labels.join('.')}.${domain}`;
        assert.equal(list.allows(host), domain === 'corp.example');
      }),
    );
  });
});

describe('listenerHosts: defaults by listen address', () => {
  test('a loopback listener serves the loopback names and its own address', () => {
    const v4 = listenerHosts(undefined, '127.0.0.1');
    for (const h of ['localhost:8443', 'app.localhost', '127.0.0.1:8443', '[::1]:8443', 'LOCALHOST.']) assert.equal(v4?.allows(h), true, h);
    for (const h of ['evil.example:8443', 'localhost.evil.example', '127.0.0.2', '0.0.0.0', 'evil-localhost']) assert.equal(v4?.allows(h), false, h);
    assert.equal(listenerHosts(undefined, '127.0.0.2')?.allows('127.0.0.2:1'), true);
    assert.equal(listenerHosts(undefined, '::1')?.allows('[::1]:1'), true);
    assert.equal(listenerHosts(undefined, 'localhost')?.allows('evil.example'), false);
  });

  test('off loopback nothing is checked unless configured; configured names replace the defaults', () => {
    assert.equal(listenerHosts(undefined, '0.0.0.0'), undefined);
    assert.equal(listenerHosts(undefined, '::'), undefined);
    assert.equal(listenerHosts(undefined, '10.0.0.5'), undefined);
    const configured = listenerHosts(['gw.example.com'], '127.0.0.1');
    assert.equal(configured?.allows('gw.example.com'), true);
    assert.equal(configured?.allows('localhost'), false);
  });
});

/**
 * The `_method` scanners (src/gateway/method-override.ts): every spelling a framework reads is found, in any chunking
 * of the body, and look-alike names are not.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyOverrideScanner, overrideBodyKinds, overrideScanner, queryOverridesMethod, type BodyKind } from '../../src/gateway/method-override.js';

/**
 * Whether `text` is found when fed whole, and in every split into two chunks, and byte by byte. `kind` is a scanner
 * kind, or a Content-Type the gateway picks the scanners by (a multipart boundary included).
 */
function foundInEveryChunking(kind: BodyKind | `${string}/${string}`, text: string): boolean[] {
  const make = () => (kind.includes('/') ? bodyOverrideScanner(['content-type', kind]) : overrideScanner(kind as BodyKind));
  const bytes = Buffer.from(text, 'utf8');
  const verdicts: boolean[] = [];
  const whole = make() as NonNullable<ReturnType<typeof make>>;
  verdicts.push(whole.feed(bytes) || whole.end());
  for (let cut = 1; cut < bytes.length; cut++) {
    const s = make() as NonNullable<ReturnType<typeof make>>;
    verdicts.push(s.feed(bytes.subarray(0, cut)) || s.feed(bytes.subarray(cut)) || s.end());
  }
  const single = make() as NonNullable<ReturnType<typeof make>>;
  let hit = false;
  for (let i = 0; i < bytes.length && !hit; i++) hit = single.feed(bytes.subarray(i, i + 1));
  verdicts.push(hit || single.end());
  return verdicts;
}

const assertFound = (kind: BodyKind | `${string}/${string}`, text: string) => assert.ok(foundInEveryChunking(kind, text).every(Boolean), `${kind}: ${JSON.stringify(text)} must be found in every chunking`);
const assertNotFound = (kind: BodyKind | `${string}/${string}`, text: string) => assert.ok(!foundInEveryChunking(kind, text).some(Boolean), `${kind}: ${JSON.stringify(text)} must pass`);

describe('method override: query strings', () => {
  test('every spelling of _method a framework reads is found', () => {
    for (const q of [
      '_method=DELETE',
      'a=1&_method=DELETE',
      'a=1;_method=PUT', // Rack 2 splits at ;
      '_METHOD=DELETE',
      '_Method=patch',
      '%5Fmethod=DELETE',
      '%5fmethod=DELETE',
      '_%6Dethod=DELETE',
      '%5F%6D%65%74%68%6F%64=DELETE',
      '.method=DELETE', // PHP reads . as _
      '_method[]=DELETE', // Express qs, PHP arrays
      '_method%00x=DELETE', // PHP cuts names at NUL
      '[_method]=DELETE', // Rack 2 drops leading and trailing brackets
      ']_method=DELETE',
      '_method]=DELETE',
      '][_method=PUT',
      'a=1&+_method=DELETE', // leading spaces dropped (PHP; Rack's "; " separator)
      '%20%20_method=DELETE',
      '_method', // no value: refused as well (the name alone)
      'a=1&_method',
    ]) {
      assert.equal(queryOverridesMethod(q), true, q);
    }
  });

  test('look-alikes pass', () => {
    for (const q of ['', 'payment_method=card', '_methods=1', 'method=DELETE', '+method=DELETE' /* the leading space is dropped: "method" */, 'x=_method', 'a=_method=1', '__method=1', '_metho=1', '_method_=1', '_meth%6fd2=1', 'm_method=1', '%ZZmethod=1', '_method%=1', '_m%C3%A9thod=1']) {
      assert.equal(queryOverridesMethod(q), false, q);
    }
  });
});

describe('method override: form bodies', () => {
  test('found in any chunking, name split anywhere', () => {
    for (const body of ['_method=DELETE', 'title=x&_method=DELETE&b=2', 'title=x;_method=put', '%5Fmethod=DELETE', '_%6d%65thod=DELETE', '.method=DELETE', 'a=1&%20_method=DELETE', '_method[x]=DELETE', 'a=%26&_method=DELETE']) {
      assertFound('form', body);
    }
  });

  test('binary data sent without a Content-Type (read as a form) passes: NUL bytes, brackets and = are no override', () => {
    const bytes = Buffer.alloc(64 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 3)) & 0xff;
    const s = overrideScanner('form');
    assert.equal(s.feed(bytes) || s.end(), false);
  });

  test('values and look-alike names pass', () => {
    for (const body of ['payment_method=card&amount=3', 'note=_method%3DDELETE', 'note=a%26_method=DELETE', '_methodical=1', 'x=1&method=DELETE']) {
      assertNotFound('form', body);
    }
  });

  test('a value holding & starts a new name (the form grammar), so it is read as one', () => {
    assertFound('form', 'note=a&_method=DELETE');
  });
});

describe('method override: multipart bodies', () => {
  const part = (disposition: string, value: string) => `--b\r\nContent-Disposition: ${disposition}\r\n\r\n${value}\r\n`;
  test('a part named _method under any spelling is found in any chunking', () => {
    for (const d of [
      'form-data; name="_method"',
      'form-data; name=_method',
      'form-data; NAME="_Method"',
      'form-data; name = "_method"',
      'form-data; name=".method"',
      'form-data; name="\\_method"',
      "form-data; name*=UTF-8''%5Fmethod",
      "form-data; name='_method'", // PHP takes single quotes too
      "form-data; name*=utf-16le''_%00m%00e%00t%00h%00o%00d%00", // busboy decodes by the charset: refused for it
      'form-data; name="_method\u0000x"', // PHP cuts names at NUL
      'form-data; filename="a.txt"; name="_method"',
    ]) {
      assertFound('multipart', `${part('form-data; name="title"', 'x')}${part(d, 'DELETE')}--b--\r\n`);
    }
  });

  test('Rack and PHP spellings that a header parser following their syntax missed (reviews of this change)', () => {
    const headers = (h: string) => `--b\r\n${h}\r\n\r\nDELETE\r\n--b--\r\n`;
    for (const h of [
      'Content-ID: _method', // Rack names a part without Content-Disposition by its Content-ID
      'content-id:\t _METHOD',
      'Content-ID:\r\n_method', // Rack's \s* crosses the line end
      'Content-ID:\v_method',
      'X-A: nameContent-ID: _method',
      'Content-ID: Content-Disposition: form-data; name=_method',
      'Content-Disposition: form-data; xname="; name=_method"', // Rack's greedy [^:]* backtracks into a quoted value
      'Content-Disposition: form-data; name=_method,x', // Rack's token ends at , ( ) < > / ? = " : \\
      'Content-Disposition: form-data; name=_method/x',
      'Content-Disposition: form-data; name=_method\\x', // … a backslash included
      'Content-Disposition: form-data; name="_me\r\nthod"', // PHP joins a header line without a colon to the last
      'Content-Disposition: form-data; name=_me\r\nthod', // … up to the blank line that ends the headers
      'Content-Disposition: form-data; na\r\nme="_method"',
      'Content-Disposition: form-data; name="[_method]"', // Rack 2 drops the brackets
    ]) {
      assertFound('multipart', headers(h));
      assertFound('multipart/form-data; boundary=b', headers(h));
    }
  });

  const CODE = 'const [method, url] = route.split(" "); this._method(x); self._method = m; $.method(); Use the .method property.';
  test('with one boundary, only part headers are read: source code and prose in a part pass', () => {
    const body = `${part('form-data; name="payment_method"', 'card')}${part('form-data; name="code"; filename="a.js"', CODE)}${part('form-data; name="method"', 'DELETE')}--b--\r\n`;
    assertNotFound('multipart/form-data; boundary=b', body);
    assertNotFound('multipart/form-data; boundary="b"', body);
    // a blank line right after the delimiter line does not end the headers for Rack (it looks from the next line on)
    assertFound('multipart/form-data; boundary=X', '--X\r\n\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--X--\r\n');
    assertFound('multipart/form-data; boundary=X', '--X \t\r\n\r\nContent-ID: _method\r\n\r\nDELETE\r\n--X--\r\n');
    assertFound('multipart/form-data; boundary=X', 'pre\r\n--X\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--X\r\n\r\nContent-Disposition: form-data; name="_method"\r\n\r\nPUT\r\n--X--\r\n');
    // …and the headers of every part are, the first one found after any preamble, even mid-line
    assertFound('multipart/form-data; boundary=b', `preamble --b\r\nContent-Disposition: form-data; name=_method\r\n\r\nDELETE\r\n--b--\r\n`);
    assertFound('multipart/form-data; boundary=b', `${part('form-data; name="code"', CODE)}${part('form-data; name="_method"', 'DELETE')}--b--\r\n`);
  });

  test('without one unambiguous boundary the whole body is read, and as a form too (Rack falls back to one)', () => {
    const body = `${part('form-data; name="code"', 'params[:_method]')}--b--\r\n`;
    assertFound('multipart', body);
    for (const ct of ['multipart/form-data', 'multipart/form-data; boundary=""', 'multipart/form-data; boundary=a; boundary=b', 'multipart/form-data; boundary=b\\x', 'multipart/form-data; boundary="b;x"', 'multipart/form-data; boundary="b,x"', 'multipart/form-data; boundary="b x"']) {
      assertFound(ct as `${string}/${string}`, body);
    }
    // Rack 2 reads boundary="b;x" as b: a part delimited by --b must be read though the gateway cannot pick a boundary
    assertFound('multipart/form-data; boundary="b;x"', '--b\r\nContent-Disposition: form-data; name=_method\r\n\r\nDELETE\r\n--b--\r\n');
    assertFound('multipart/form-data', 'a=1&_method=DELETE');
    assertFound('multipart/form-data; boundary=b', 'a=1&_method=DELETE');
  });
});

describe('method override: JSON bodies', () => {
  test('a top-level _method key is found in any chunking', () => {
    for (const body of [
      '{"_method"/**/:"DELETE"}', // comments, as Ruby's JSON takes them (rack-contrib's JSON body parser)
      '{/*"*/"_method":"DELETE"}',
      '{//"\n"_method":"DELETE"}','{"_method":"DELETE"}', '{ "a": [1, {"b": "}"}], "_method" : "PUT" }', '{"\\u005fmethod":"DELETE"}', '{"_\\u006Dethod":"DELETE"}', '\ufeff{"_METHOD":"DELETE"}']) {
      assertFound('json', body);
    }
  });

  test('nested keys, values and escaped quotes pass', () => {
    for (const body of ['{"a":{"_method":"DELETE"}}', '{"x":"_method"}', '["_method"]', '{"x":"\\"_method\\":1"}', '{"payment_method":"card"}', '{"a":["_method", 1]}']) {
      assertNotFound('json', body);
    }
  });
});

describe('method override: which bodies are read', () => {
  test('media types, read as the most lenient framework reads the header', () => {
    assert.deepEqual(overrideBodyKinds(undefined), ['form'], 'Rack parses a POST without Content-Type as a form');
    assert.deepEqual(overrideBodyKinds('application/x-www-form-urlencoded; charset=utf-8'), ['form']);
    assert.deepEqual(overrideBodyKinds('Multipart/Form-Data; boundary=x'), ['multipart']);
    assert.deepEqual(overrideBodyKinds('multipart/mixed; boundary=x'), ['multipart']);
    assert.deepEqual(overrideBodyKinds('application/json'), ['json']);
    assert.deepEqual(overrideBodyKinds('application/vnd.api+json'), ['json']);
    // Rack splits the media type at , and ; — PHP also at a space
    assert.deepEqual(overrideBodyKinds('application/x-www-form-urlencoded, text/plain'), ['form']);
    assert.deepEqual(overrideBodyKinds('application/x-www-form-urlencoded x'), ['form']);
    // Laravel's isJson: "/json" or "+json" anywhere in the header
    assert.deepEqual(overrideBodyKinds('text/plain; v=/json'), ['json']);
    assert.deepEqual(overrideBodyKinds('application/jsonx'), ['json']);
    assert.deepEqual(overrideBodyKinds('application/x-www-form-urlencoded; x=/json'), ['form', 'json']);
    // neither: read both ways (fail closed); opaque types pass unread
    assert.deepEqual(overrideBodyKinds('text/plain'), ['form', 'json']);
    assert.deepEqual(overrideBodyKinds('application/xml'), ['form', 'json']);
    assert.deepEqual(overrideBodyKinds('application/octet-stream'), []);
    assert.deepEqual(overrideBodyKinds('image/png'), []);
    // …unless something in the header makes Laravel's isJson() read the body as JSON
    assert.deepEqual(overrideBodyKinds('image/png; a=/json'), ['json']);
    assert.deepEqual(overrideBodyKinds('application/octet-stream; p=x+json'), ['json']);
  });

  test('a charset that does not spell ASCII as ASCII is refused (UTF-16 moves every byte of _method)', () => {
    for (const ct of ['application/json; charset=utf-16le', 'application/x-www-form-urlencoded; charset=UTF-16BE', 'text/plain; charset="utf-32"', 'application/json; charset=utf-8; charset=utf-16', 'application/x-www-form-urlencoded; charset=" utf-7"']) {
      assert.throws(() => overrideBodyKinds(ct), { code: 'GH_METHOD_OVERRIDE' }, ct);
    }
    for (const ct of ['application/json; charset=utf-8', 'application/x-www-form-urlencoded; charset=ISO-8859-1', 'text/plain; charset=windows-1252', 'application/json; charset=us-ascii']) {
      assert.doesNotThrow(() => overrideBodyKinds(ct), ct);
    }
  });

  test('a compressed body of a read type, or two Content-Types, is refused; identity passes', () => {
    assert.throws(() => bodyOverrideScanner(['content-type', 'application/json', 'content-encoding', 'gzip']), { code: 'GH_METHOD_OVERRIDE' });
    assert.throws(() => bodyOverrideScanner(['content-encoding', 'br']), { code: 'GH_METHOD_OVERRIDE' }, 'no Content-Type reads as a form');
    assert.throws(() => bodyOverrideScanner(['content-type', 'application/json', 'Content-Type', 'text/plain']), { code: 'GH_HEADER_INVALID' });
    assert.ok(bodyOverrideScanner(['content-type', 'application/json', 'content-encoding', 'identity']));
    assert.equal(bodyOverrideScanner(['content-type', 'application/octet-stream', 'content-encoding', 'gzip']), undefined);
  });
});

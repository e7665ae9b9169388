/**
 * W3C Trace Context Level 1 parsing (src/gateway/tracing.ts), trust and sampling decisions of the tracer, and the OTLP
 * JSON encoding (src/gateway/otlp.ts). Units: no network. The gateway end to end is test/gateway/tracing.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Exchange } from '../../src/core/types.js';
import { encodeTraces, unixNano, type FinishedSpan } from '../../src/gateway/otlp.js';
import { UPSTREAM_SPAN, type TracedExchange } from '../../src/gateway/proxy.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, parseTracestate, sampledByRatio, Tracer } from '../../src/gateway/tracing.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

describe('traceparent', () => {
  test('the specification example parses; the sampled flag is bit 0 of the flags', () => {
    assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE, parentId: PARENT, sampled: true });
    assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.sampled, false);
    assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-03`)?.sampled, true, 'other flag bits are ignored, not refused');
  });

  const refused: Array<[string, string | string[] | undefined]> = [
    ['absent', undefined],
    ['upper-case hex in the trace id', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['upper-case hex in the parent id', `00-${TRACE}-00F067AA0BA902B7-01`],
    ['upper-case hex in the flags', `00-${TRACE}-${PARENT}-0A`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff (forbidden)', `ff-${TRACE}-${PARENT}-01`],
    ['version 01 (only 00 is understood)', `01-${TRACE}-${PARENT}-01`],
    ['a trace id one digit short', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['a parent id one digit long', `00-${TRACE}-${PARENT}0-01`],
    ['one flag digit', `00-${TRACE}-${PARENT}-1`],
    ['data after the flags (version 00 has none)', `${VALID}-extra`],
    ['non-hex characters', `00-${TRACE.slice(0, 31)}g-${PARENT}-01`],
    ['other separators', `00_${TRACE}_${PARENT}_01`],
    ['two headers (Node joins them)', `${VALID}, ${VALID}`],
    ['an array', [VALID, VALID]],
    ['10 KB', `00-${TRACE}-${PARENT}-01${'a'.repeat(10_240)}`],
    ['empty', ''],
  ];
  for (const [what, value] of refused) {
    test(`refuses ${what}`, () => assert.equal(parseTraceparent(value), undefined));
  }

  test('property: any string that is not exactly a valid version-00 header is refused; any valid one round-trips', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    fc.assert(
      fc.property(hex(32), hex(16), fc.boolean(), (t, p, s) => {
        const parsed = parseTraceparent(formatTraceparent(t, p, s));
        if (/^0+$/.test(t) || /^0+$/.test(p)) return parsed === undefined;
        return parsed !== undefined && parsed.traceId === t && parsed.parentId === p && parsed.sampled === s;
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const parsed = parseTraceparent(s);
        return parsed === undefined || /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(s);
      }),
    );
  });

  test('generated ids are lower-case hex of the right length, never all zeros, and do not repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = newTraceId();
      const s = newSpanId();
      assert.match(t, /^[0-9a-f]{32}$/);
      assert.match(s, /^[0-9a-f]{16}$/);
      assert.ok(!seen.has(t));
      seen.add(t);
    }
  });
});

describe('tracestate', () => {
  test('well-formed lists pass, normalised (white space around members dropped)', () => {
    assert.equal(parseTracestate('rojo=00f067aa0ba902b7, congo=t61rcWkgMzE'), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(parseTracestate('tenant@vendor=x'), 'tenant@vendor=x');
  });
  test('refused whole: over 512 characters, over 32 members, a malformed member, a duplicated key, empty', () => {
    assert.equal(parseTracestate(`a=${'x'.repeat(511)}`), undefined);
    assert.equal(parseTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')), undefined);
    assert.ok(parseTracestate(Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',')) !== undefined);
    assert.equal(parseTracestate('Upper=v'), undefined);
    assert.equal(parseTracestate('k=v=w'), undefined);
    assert.equal(parseTracestate('k=v\u0000'), undefined);
    assert.equal(parseTracestate('k=v,k=w'), undefined);
    assert.equal(parseTracestate(' , '), undefined);
    assert.equal(parseTracestate(undefined), undefined);
  });
});

describe('sampling', () => {
  test('ratio 1 records every trace, 0 none; in between, about that share, the same answer for the same trace id', () => {
    const ids = Array.from({ length: 4000 }, newTraceId);
    assert.ok(ids.every((id) => sampledByRatio(id, 1)));
    assert.ok(ids.every((id) => !sampledByRatio(id, 0)));
    const share = ids.filter((id) => sampledByRatio(id, 0.25)).length / ids.length;
    assert.ok(share > 0.2 && share < 0.3, String(share));
    assert.ok(ids.every((id) => sampledByRatio(id, 0.25) === sampledByRatio(id, 0.25)));
  });
});

/** The fields the tracer reads, for an exchange from `peer` carrying `headers`. */
function exchange(peer: string, headers: Record<string, string>): Exchange {
  return {
    id: 'req-1', startedAt: 0, req: { headers } as unknown as Exchange['req'], res: undefined as unknown as Exchange['res'], method: 'GET', path: '/api/x', query: 'api_key=s3cr3t',
    network: { source_ip: peer, peer_ip: peer, tls: false }, route: undefined, principal: undefined, operation: undefined, decision: undefined, approval: undefined,
    body: undefined, upstreamHeaders: {}, upstreamSigner: undefined, status: undefined, error: undefined, meta: {}, responseFilter: undefined,
  };
}

describe('whose trace context is continued (tracing.trust_incoming)', () => {
  const incoming = { traceparent: VALID, tracestate: 'rojo=1' };
  const tracer = (trust: 'trusted_proxies' | 'all' | 'none', ratio = 1) => {
    const spans: FinishedSpan[] = [];
    const t = new Tracer({ sample_ratio: ratio, trust_incoming: trust, record_principal: false }, { enqueue: (s) => spans.push(s) }, (ip) => ip === '10.0.0.1');
    return { t, spans };
  };

  test('trusted_proxies: a trusted proxy\'s is continued with its tracestate; anyone else\'s starts a new trace without it', () => {
    const { t } = tracer('trusted_proxies');
    const fromProxy = exchange('10.0.0.1', incoming);
    const span = t.start(fromProxy);
    assert.equal(span.traceId, TRACE);
    assert.equal(span.parentSpanId, PARENT);
    assert.ok(span.clientSpanId !== undefined && span.clientSpanId !== span.spanId, 'sampled: the upstream call has a CLIENT span of its own');
    assert.equal(fromProxy.upstreamHeaders['traceparent'], `00-${TRACE}-${span.clientSpanId}-01`);
    assert.equal(fromProxy.upstreamHeaders['tracestate'], 'rojo=1');
    const fromClient = exchange('203.0.113.9', incoming);
    const other = t.start(fromClient);
    assert.notEqual(other.traceId, TRACE);
    assert.equal(other.parentSpanId, undefined);
    assert.equal(fromClient.upstreamHeaders['tracestate'], undefined);
  });

  test('none continues no one\'s; all continues anyone\'s', () => {
    assert.notEqual(tracer('none').t.start(exchange('10.0.0.1', incoming)).traceId, TRACE);
    assert.equal(tracer('all').t.start(exchange('203.0.113.9', incoming)).traceId, TRACE);
  });

  test('a continued trace follows its parent\'s sampled flag, not the ratio; an untrusted client cannot force sampling', () => {
    const { t, spans } = tracer('trusted_proxies', 0);
    const ex = exchange('10.0.0.1', incoming);
    t.end(t.start(ex), ex, 200);
    assert.equal(spans.length, 1, 'the trusted parent was sampled');
    const ex2 = exchange('203.0.113.9', incoming);
    const s2 = t.start(ex2);
    t.end(s2, ex2, 200);
    assert.equal(spans.length, 1, 'ratio 0 for a new trace');
    assert.match(ex2.upstreamHeaders['traceparent'] ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const { t: t1, spans: s1 } = tracer('trusted_proxies', 1);
    const ex3 = exchange('10.0.0.1', { traceparent: `00-${TRACE}-${PARENT}-00` });
    t1.end(t1.start(ex3), ex3, 200);
    assert.equal(s1.length, 0, 'the trusted parent was not sampled');
  });

  test('parent_based: false (always_on / traceidratio): the ratio decides even for a trusted parent, whose trace id is still continued', () => {
    const spans: FinishedSpan[] = [];
    const t = new Tracer({ sample_ratio: 0, parent_based: false, trust_incoming: 'trusted_proxies', record_principal: false }, { enqueue: (s) => spans.push(s) }, (ip) => ip === '10.0.0.1');
    const ex = exchange('10.0.0.1', incoming);
    const span = t.start(ex);
    t.end(span, ex, 200);
    assert.equal(span.traceId, TRACE);
    assert.equal(span.parentSpanId, PARENT);
    assert.equal(span.sampled, false, 'the sampled parent is not followed');
    assert.equal(spans.length, 0);
    const on = new Tracer({ sample_ratio: 1, parent_based: false, trust_incoming: 'trusted_proxies', record_principal: false }, { enqueue: (s) => spans.push(s) }, (ip) => ip === '10.0.0.1');
    assert.equal(on.start(exchange('10.0.0.1', { traceparent: `00-${TRACE}-${PARENT}-00` })).sampled, true, 'nor an unsampled one');
  });

  test('an unsampled request gets no CLIENT span: nothing is hung on the exchange, its traceparent names the SERVER span', () => {
    const { t } = tracer('none', 0);
    const ex = exchange('10.0.0.1', {});
    const span = t.start(ex);
    assert.equal(span.clientSpanId, undefined);
    assert.equal((ex as TracedExchange)[UPSTREAM_SPAN], undefined);
    assert.equal(Object.getOwnPropertySymbols(ex).length, 0);
    assert.equal(ex.upstreamHeaders['traceparent'], `00-${span.traceId}-${span.spanId}-00`);
  });

  test('a sampled request\'s CLIENT span: child of the SERVER span, from dispatch to the end, HTTP client attributes, ERROR on failure', () => {
    const { t, spans } = tracer('none', 1);
    const ex = exchange('10.0.0.1', { authorization: 'Bearer s3cr3t' });
    const server = t.start(ex);
    const call = (ex as TracedExchange)[UPSTREAM_SPAN];
    assert.ok(call);
    call.ended(200, undefined);
    assert.equal(spans.length, 0, 'never sent: no span');
    call.sent({ address: 'inventory.internal', port: 8443, scheme: 'https' });
    call.ended(0, 'GH_UPSTREAM_TIMEOUT');
    call.ended(0, 'GH_UPSTREAM_TIMEOUT');
    assert.equal(spans.length, 1, 'ended once');
    const client = spans[0] as FinishedSpan;
    assert.deepEqual(
      { traceId: client.traceId, spanId: client.spanId, parentSpanId: client.parentSpanId, kind: client.kind, name: client.name, error: client.error },
      { traceId: server.traceId, spanId: server.clientSpanId, parentSpanId: server.spanId, kind: 'client', name: 'GET', error: true },
    );
    assert.deepEqual(client.attributes, [
      ['http.request.method', 'GET'], ['server.address', 'inventory.internal'], ['server.port', 8443], ['url.scheme', 'https'],
      ['error.type', 'GH_UPSTREAM_TIMEOUT'], ['gatehouse.error_code', 'GH_UPSTREAM_TIMEOUT'],
    ]);
    assert.ok(client.endMs >= client.startMs);
    const text = JSON.stringify(spans);
    assert.ok(!text.includes('s3cr3t') && !text.includes('/api/x') && !text.includes('api_key'), text);
  });

  test('a span holds no path, query or header; ERROR status from 500', () => {
    const { t, spans } = tracer('trusted_proxies');
    const ex = exchange('10.0.0.1', { ...incoming, authorization: 'Bearer s3cr3t' });
    t.end(t.start(ex), ex, 502);
    const text = JSON.stringify(spans);
    assert.ok(!text.includes('s3cr3t') && !text.includes('/api/x'), text);
    assert.equal(spans[0]?.error, true);
    assert.equal(spans[0]?.name, 'GET', 'no route: the method alone');
  });

  test('the principal\'s id is recorded (enduser.id) only with record_principal, never for anonymous callers', () => {
    const principal = (type: 'agent' | 'anonymous') => ({ id: 'ci-agent', type }) as unknown as Exchange['principal'];
    for (const [record, type, expected] of [[false, 'agent', undefined], [true, 'agent', 'ci-agent'], [true, 'anonymous', undefined]] as const) {
      const spans: FinishedSpan[] = [];
      const t = new Tracer({ sample_ratio: 1, trust_incoming: 'none', record_principal: record }, { enqueue: (s) => spans.push(s) }, () => false);
      const ex = exchange('10.0.0.1', {});
      ex.principal = principal(type);
      ex.route = { name: 'api', prefix: '/api', kind: 'http' };
      t.end(t.start(ex), ex, 200);
      assert.equal(spans[0]?.attributes.find(([k]) => k === 'enduser.id')?.[1], expected);
      assert.equal(spans[0]?.name, 'GET api');
    }
  });
});

describe('OTLP/HTTP JSON encoding', () => {
  test('resource, scope, ids as hex, kind SERVER, nanosecond times as decimal strings, typed attributes, status', () => {
    const span: FinishedSpan = { traceId: TRACE, spanId: PARENT, parentSpanId: 'aaaaaaaaaaaaaaaa', name: 'GET api', startMs: 1_700_000_000_123.25, endMs: 1_700_000_000_125, attributes: [['http.response.status_code', 503], ['gatehouse.route', 'api']], error: true };
    const doc = JSON.parse(encodeTraces([span], { serviceName: 'edge', serviceVersion: '1.2.3' }));
    const rs = doc.resourceSpans[0];
    assert.deepEqual(rs.resource.attributes, [{ key: 'service.name', value: { stringValue: 'edge' } }, { key: 'service.version', value: { stringValue: '1.2.3' } }]);
    assert.equal(rs.scopeSpans[0].scope.name, 'gatehouse');
    const s = rs.scopeSpans[0].spans[0];
    assert.deepEqual(s, {
      traceId: TRACE, spanId: PARENT, parentSpanId: 'aaaaaaaaaaaaaaaa', name: 'GET api', kind: 2,
      startTimeUnixNano: '1700000000123250000', endTimeUnixNano: '1700000000125000000',
      attributes: [{ key: 'http.response.status_code', value: { intValue: '503' } }, { key: 'gatehouse.route', value: { stringValue: 'api' } }],
      status: { code: 2 },
    });
  });
  test('CLIENT spans are kind 3; resource attributes follow service.name and service.version, which they may set but never service.name', () => {
    const span: FinishedSpan = { traceId: TRACE, spanId: PARENT, parentSpanId: 'aaaaaaaaaaaaaaaa', name: 'GET', kind: 'client', startMs: 1, endMs: 2, attributes: [], error: false };
    const doc = JSON.parse(encodeTraces([span], { serviceName: 'edge', serviceVersion: '1.2.3', attributes: [['deployment.environment', 'staging'], ['service.name', 'ignored'], ['service.version', '2025.1']] }));
    assert.equal(doc.resourceSpans[0].scopeSpans[0].spans[0].kind, 3);
    assert.deepEqual(doc.resourceSpans[0].resource.attributes, [
      { key: 'service.name', value: { stringValue: 'edge' } }, { key: 'service.version', value: { stringValue: '2025.1' } }, { key: 'deployment.environment', value: { stringValue: 'staging' } },
    ]);
    assert.equal(doc.resourceSpans[0].scopeSpans[0].scope.version, '1.2.3', 'the scope is Gatehouse, whatever the service calls itself');
  });
  test('unixNano is exact past 2^53 and carries a rounded-up fraction', () => {
    assert.equal(unixNano(1_700_000_000_000), '1700000000000000000');
    assert.equal(unixNano(0.9999999), '1000000');
    assert.equal(unixNano(1_700_000_000_000.5), '1700000000000500000');
  });
});

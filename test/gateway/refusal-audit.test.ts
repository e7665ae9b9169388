/**
 * Requests refused before an exchange exists — a path-confusion target, TRACE, a smuggling attempt Node's parser
 * rejects, oversized headers — are audited (error code, source address, the path up to its query; no header), and the
 * alert engine's malformed_requests detector raises one alert for a probing source, delivered to a real webhook on
 * loopback. A client hanging up is GH_CLIENT_CLOSED, never counted as malformed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { rawHttp } from '../helpers/raw-http.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

describe('refusals before any route are audited and alerted on', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let webhook: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    upstream = await startRecordingUpstream();
    webhook = await startRecordingUpstream((_req, res) => res.writeHead(204).end());
    gw = await startTestGateway({
      routes: [{ name: 'echo', prefix: '/echo', upstream: upstream.url }],
      audit: { alerts: { enabled: true, webhook_url: `${webhook.url}/alerts`, batch_interval: '50ms', malformed_requests: { threshold: 4, window: '1m' } } },
    });
    port = Number(new URL(gw.url).port);
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    await webhook.close();
  });

  test('four kinds of hostile request: each refused, none forwarded, each in the audit trail without its query or headers', async () => {
    const traversal = await request(`${gw.url}/echo/..%2f..%2fadmin?api_key=QUERYSECRET`);
    assert.equal(traversal.statusCode, 400);
    const traversalId = traversal.headers['x-request-id'];
    await traversal.body.dump();
    const trace = await request(`${gw.url}/echo/x`, { method: 'TRACE' });
    assert.equal(trace.statusCode, 405);
    await trace.body.dump();
    const smuggled = await rawHttp(port, 'POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nX-Secret: HEADERSECRET\r\n\r\n0\r\n\r\n', 2000);
    assert.match(smuggled, /^HTTP\/1\.1 400 /);
    const huge = await rawHttp(port, `GET /echo/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, 2000);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.equal(upstream.requests.length, 0);

    // The fourth refusal from 127.0.0.1 within the minute: one malformed_requests alert.
    await until('the alert webhook to be called', () => webhook.requests.length > 0);
    const alerts = webhook.requests.flatMap((r) => (JSON.parse(r.body) as { alerts: Array<Record<string, unknown>> }).alerts);
    const malformed = alerts.filter((a) => a['kind'] === 'malformed_requests');
    assert.equal(malformed.length, 1, JSON.stringify(alerts));
    assert.equal(malformed[0]?.['source'], '127.0.0.1');
    assert.deepEqual([...(malformed[0]?.['error_codes'] as string[])].sort(), ['GH_BAD_REQUEST', 'GH_HEADERS_TOO_LARGE', 'GH_METHOD_NOT_ALLOWED', 'GH_PATH_INVALID']);

    await gw.close(2000);
    const dir = join(gw.stateDir, 'audit');
    const text = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
    for (const secret of ['QUERYSECRET', 'HEADERSECRET', 'aaaaaaaaaaaaaaaa']) assert.ok(!text.includes(secret), secret);
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['error_code'] !== undefined);
    const byCode = new Map(records.map((r) => [r['error_code'], r]));
    const path = byCode.get('GH_PATH_INVALID');
    assert.equal(path?.['request_id'], traversalId);
    assert.equal(path?.['path'], '/echo/..%2f..%2fadmin');
    assert.equal(path?.['source_ip'], '127.0.0.1');
    assert.equal(path?.['status'], 400);
    assert.equal(byCode.get('GH_METHOD_NOT_ALLOWED')?.['method'], 'TRACE');
    for (const code of ['GH_BAD_REQUEST', 'GH_HEADERS_TOO_LARGE']) {
      const r = byCode.get(code);
      assert.equal(r?.['source_ip'], '127.0.0.1', code);
      assert.equal(r?.['result_status'], 'error', code);
      assert.equal(r?.['path'], undefined, `${code}: the parser refused it before a path existed`);
    }
  });
});

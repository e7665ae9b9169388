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
    const idOf = (answer: string) => /x-request-id: (\S+)/i.exec(answer)?.[1];
    const fragmentId = idOf(await rawHttp(port, 'GET /echo/cb#access_token=FRAGMENTSECRET HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 2000));
    const absoluteId = idOf(await rawHttp(port, 'GET http://user:URLSECRET@example.internal/echo/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 2000));
    // A bare userinfo (a token with no colon) is a credential too.
    const bareId = idOf(await rawHttp(port, 'GET http://BAREUSERINFOSECRET@example.internal/echo/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 2000));
    assert.ok(fragmentId && absoluteId && bareId);
    // The gateway's request log line of each refusal keeps no more of the target than the audit record does.
    for (const secret of ['FRAGMENTSECRET', 'URLSECRET', 'BAREUSERINFOSECRET', 'QUERYSECRET']) assert.ok(!gw.log.lines.some((l) => l.includes(secret)), `log: ${secret}`);
    assert.ok(gw.log.lines.some((l) => l.includes(fragmentId) && l.includes('"path":"/echo/cb"')), 'the log keeps the path up to the fragment');

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
    for (const secret of ['QUERYSECRET', 'HEADERSECRET', 'FRAGMENTSECRET', 'URLSECRET', 'BAREUSERINFOSECRET', 'aaaaaaaaaaaaaaaa']) assert.ok(!text.includes(secret), secret);
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['error_code'] !== undefined);
    const byCode = new Map(records.map((r) => [r['error_code'], r]));
    const path = records.find((r) => r['request_id'] === traversalId);
    assert.equal(path?.['request_id'], traversalId);
    assert.equal(path?.['path'], '/echo/..%2f..%2fadmin');
    assert.equal(path?.['source_ip'], '127.0.0.1');
    assert.equal(path?.['status'], 400);
    assert.equal(byCode.get('GH_METHOD_NOT_ALLOWED')?.['method'], 'TRACE');
    const fragment = records.find((r) => r['request_id'] === fragmentId);
    assert.equal(fragment?.['path'], '/echo/cb', 'the fragment is cut off');
    const absolute = records.find((r) => r['request_id'] === absoluteId);
    assert.equal(absolute?.['error_code'], 'GH_PATH_INVALID');
    assert.equal(absolute?.['path'], undefined, 'an absolute-form target (userinfo and all) is not kept');
    for (const code of ['GH_BAD_REQUEST', 'GH_HEADERS_TOO_LARGE']) {
      const r = byCode.get(code);
      assert.equal(r?.['source_ip'], '127.0.0.1', code);
      assert.equal(r?.['result_status'], 'error', code);
      assert.equal(r?.['path'], undefined, `${code}: the parser refused it before a path existed`);
    }
  });
});

describe('refusals before any route draw on a budget of their own', () => {
  test('a pipelined flood of refused requests is answered in full, audited up to the budget, and the rest counted in the next record', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({ routes: [{ name: 'echo', prefix: '/echo', upstream: upstream.url }] });
    try {
      const port = Number(new URL(gw.url).port);
      const N = 1000;
      const flood = Array.from({ length: N }, (_, i) => `GET /echo/a;b${i} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
      const answers = await rawHttp(port, `${flood}GET /echo/last;x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 10_000);
      assert.equal(answers.match(/HTTP\/1\.1 400 /g)?.length, N + 1, 'every refused request is answered');
      // After the burst the budget refills: one more refusal is recorded and reports what was not.
      await new Promise((r) => setTimeout(r, 100));
      assert.match(await rawHttp(port, 'GET /echo/after;x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 2000), /^HTTP\/1\.1 400 /);
      await gw.close(2000);
      const dir = join(gw.stateDir, 'audit');
      const refused = readdirSync(dir)
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
        .map((l) => JSON.parse(l) as Record<string, unknown> & { metadata?: { refusals_not_recorded?: number } })
        .filter((r) => r['error_code'] === 'GH_PATH_INVALID');
      const notRecorded = refused.reduce((n, r) => n + (r.metadata?.refusals_not_recorded ?? 0), 0);
      assert.ok(refused.length < N, `${refused.length} records for ${N + 2} refusals: the budget held`);
      assert.ok(notRecorded > 0);
      assert.equal(refused.length + notRecorded, N + 2, 'each refusal is either recorded or counted');
      assert.equal(upstream.requests.length, 0);
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
});

/**
 * An MCP GET stream's events are filtered (list answers) and a legacy stream's first event rewritten (its endpoint) as
 * they arrive. Both held an incomplete event by joining it with every new chunk and rescanning it from its start: an
 * upstream sending one 8 MiB answer in 16 KiB pieces cost the gateway 16 s of CPU, 256 KiB one byte at a time 344 s,
 * with the event loop — every other request — blocked meanwhile. Now the scanner's state carries over between chunks
 * and an event is joined once, when it completes: these tests count the work (bytes searched, bytes copied) and hold
 * the result to what one chunk gives, whatever the chunking.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SseBlockSplitter, SseEndpointRewriter, SseEventFilter } from '../../src/gateway/sse-events.js';
import { makeStreamListFilter } from '../../src/authz/index.js';

const keep = (kind: string, key: string) => kind === 'tools' && key === 'ok_tool';
const listFilter = makeStreamListFilter(keep);

/** One answer of `size` bytes as an SSE event (a list answer: the filter parses it). */
function bigEvent(size: number): Buffer {
  const json = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'ok_tool', description: '' }] } });
  const pad = size - Buffer.byteLength(json) - 'data: \n\n'.length;
  return Buffer.from(`data: ${json.replace('"description":""', `"description":"${'x'.repeat(pad)}"`)}\n\n`);
}

function pieces(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

function runFilter(chunks: Buffer[], max = 1 << 20): string {
  const f = new SseEventFilter(listFilter, max);
  const out = chunks.map((c) => f.push(c));
  const held = f.flush();
  return Buffer.concat([...out, ...(held ? [held] : [])]).toString('utf8');
}

function runRewriter(chunks: Buffer[]): string {
  const r = new SseEndpointRewriter((uri) => `/gw${uri}`);
  const out = chunks.map((c) => r.push(c));
  const held = r.flush();
  return Buffer.concat([...out, ...(held ? [held] : [])]).toString('utf8');
}

describe('bytes copied while events arrive in pieces', () => {
  // Every copy of held bytes goes through Buffer.concat or Buffer#copy: counted here.
  const realConcat = Buffer.concat;
  const realCopy = Buffer.prototype.copy;
  let copied = 0;
  beforeEach(() => {
    copied = 0;
    Buffer.concat = (list: readonly Uint8Array[], total?: number) => {
      copied += list.reduce((n, b) => n + b.length, 0);
      return realConcat(list, total);
    };
    Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>) {
      const n = realCopy.apply(this, args);
      copied += n;
      return n;
    };
  });
  afterEach(() => {
    Buffer.concat = realConcat;
    Buffer.prototype.copy = realCopy;
  });

  test('SseEventFilter: a 256 KiB event in 64-byte pieces is copied a few times over, not once per piece', () => {
    const event = bigEvent(256 * 1024);
    const out = runFilter(pieces(event, 64));
    Buffer.concat = realConcat;
    Buffer.prototype.copy = realCopy;
    assert.equal(out, event.toString('utf8'), 'a list answer the caller may see in full passes as it was');
    // Held, joined when complete, sent: a handful of copies. Joining the held part with each piece: 4096 × 128 KiB.
    assert.ok(copied <= 6 * event.length, `copied ${copied} bytes for an event of ${event.length}`);
  });

  test('SseEndpointRewriter: a 16 KiB first block one byte at a time is copied a few times over', () => {
    const stream = Buffer.from(`: ${'c'.repeat(16 * 1024 - 200)}\n\nevent: endpoint\ndata: /messages?sessionId=abc\n\n`);
    const out = runRewriter(pieces(stream, 1));
    Buffer.concat = realConcat;
    Buffer.prototype.copy = realCopy;
    assert.equal(out, stream.toString('utf8').replace('data: /messages', 'data: /gw/messages'));
    assert.ok(copied <= 6 * stream.length, `copied ${copied} bytes for a stream of ${stream.length}`);
  });
});

describe('bytes searched while events arrive in pieces', () => {
  test('each byte is searched at most twice (for an LF, for a CR), whatever the chunking and line breaks', () => {
    for (const br of ['\n', '\r\n', '\r']) {
      const stream = Buffer.from(`: hi${br}${br}event: message${br}data: ${'y'.repeat(64 * 1024)}${br}data: z${br}${br}`.repeat(4));
      for (const size of [1, 7, 1024, stream.length]) {
        const split = new SseBlockSplitter();
        let blocks = 0;
        for (const c of pieces(stream, size)) {
          split.feed(c);
          for (let b = split.next(); b !== undefined; b = split.next()) if (b.end > b.start) blocks++;
        }
        assert.equal(blocks, 8, `${JSON.stringify(br)} in ${size}-byte pieces`);
        assert.equal(split.held, 0);
        assert.ok(split.scanned <= 2 * stream.length, `${JSON.stringify(br)} in ${size}-byte pieces: searched ${split.scanned} of ${stream.length}`);
      }
    }
  });

  test('256 KiB one byte at a time and the endpoint rewriter\'s 16 KiB one byte at a time finish in a blink (before: minutes)', () => {
    const event = bigEvent(256 * 1024);
    const t0 = performance.now();
    const f = new SseEventFilter(listFilter, 1 << 20);
    let sent = 0;
    for (let i = 0; i < event.length; i++) {
      sent += f.push(event.subarray(i, i + 1)).length;
      // Bail out rather than run for minutes on a quadratic filter.
      if ((i & 1023) === 0) assert.ok(performance.now() - t0 < 10_000, `still at byte ${i} after 10 s`);
    }
    assert.equal(sent, event.length);
    const r = new SseEndpointRewriter(() => '/x');
    const block = Buffer.from(`: ${'c'.repeat(16 * 1024 - 10)}`);
    for (let i = 0; i < block.length; i++) assert.equal(r.push(block.subarray(i, i + 1)).length, 0);
    // Generous for a busy machine: the linear scan takes milliseconds, the quadratic one took 344 s and 1.3 s.
    assert.ok(performance.now() - t0 < 10_000, `took ${Math.round(performance.now() - t0)} ms`);
  });
});

describe('the bounds hold without joining what is held', () => {
  test('SseEventFilter refuses an event as soon as more than max bytes of it are held, one byte at a time too', () => {
    const f = new SseEventFilter(listFilter, 1000);
    for (let i = 0; i < 1000; i++) assert.equal(f.push(Buffer.from('a')).length, 0);
    assert.throws(() => f.push(Buffer.from('a')), RangeError);
    // A complete event passes whatever its size; only what is held back is bounded.
    const g = new SseEventFilter(listFilter, 1000);
    const big = bigEvent(4000);
    assert.equal(g.push(big).toString('utf8'), big.toString('utf8'));
    assert.equal(g.push(Buffer.from('data: 1\n')).length, 0);
    assert.throws(() => g.push(Buffer.alloc(1000, 0x61)), RangeError);
  });

  test('SseEndpointRewriter gives up past 16 KiB held and passes everything from then on', () => {
    const r = new SseEndpointRewriter(() => '/x');
    const head = Buffer.from(`: one\n\nevent: endpoint\ndata: /${'x'.repeat(16 * 1024)}`);
    const sent: Buffer[] = [];
    for (const c of pieces(head, 1024)) sent.push(r.push(c));
    assert.equal(r.done, true);
    sent.push(r.push(Buffer.from('\n\nevent: endpoint\ndata: /m\n\n')));
    assert.equal(Buffer.concat(sent).toString('utf8'), `${head.toString('utf8')}\n\nevent: endpoint\ndata: /m\n\n`);
  });
});

describe('the output does not depend on the chunking', () => {
  const parts = fc.constantFrom(
    'data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ok_tool"},{"name":"secret_tool"}]}}',
    'data: {"jsonrpc":"2.0","method":"ping"}',
    'data: {"tools": broken',
    'data',
    'event: endpoint',
    'data: /messages?sessionId=s1',
    ': comment',
    'retry: 3000',
    'id: 7',
    '',
  );
  const stream = fc
    .tuple(fc.boolean(), fc.array(fc.tuple(parts, fc.constantFrom('\n', '\r\n', '\r')), { maxLength: 14 }))
    .map(([bom, lines]) => Buffer.from(`${bom ? '\uFEFF' : ''}${lines.map(([l, br]) => l + br).join('')}`));
  const cuts = (buf: Buffer, at: number[]): Buffer[] => {
    const sorted = [...new Set(at.map((x) => x % (buf.length + 1)))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let from = 0;
    for (const x of [...sorted, buf.length]) {
      out.push(buf.subarray(from, x));
      from = x;
    }
    return out;
  };

  test('SseEventFilter and SseEndpointRewriter send the same bytes in any pieces as in one', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (buf, at) => {
        const chunks = cuts(buf, at);
        assert.equal(runFilter(chunks), runFilter([buf]), JSON.stringify(buf.toString()));
        assert.equal(runRewriter(chunks), runRewriter([buf]), JSON.stringify(buf.toString()));
        assert.equal(runFilter([...buf].map((b) => Buffer.from([b]))), runFilter([buf]));
      }),
      { numRuns: 2000 },
    );
  });

  test('SseBlockSplitter finds the blocks a whole-text reading finds, a leading BOM left out', () => {
    const reference = (text: string): string[] => {
      const blocks: string[] = [];
      let block = '';
      const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
      for (const m of body.matchAll(/([^\r\n]*)(\r\n|\r|\n)/g)) {
        if (m[1] === '') {
          blocks.push(block);
          block = '';
        } else block += (m[1] as string) + (m[2] as string);
      }
      return blocks;
    };
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (buf, at) => {
        const split = new SseBlockSplitter();
        const got: string[] = [];
        let sent = 0;
        for (const c of cuts(buf, at)) {
          split.feed(c);
          for (let b = split.next(); b !== undefined; b = split.next()) {
            sent += b.bytes.length;
            if (b.end > b.start) got.push(b.bytes.toString('utf8', b.start, b.end));
          }
        }
        // Blocks of no lines dispatch nothing: the CR of a CRLF split across chunks makes one of its LF.
        assert.deepEqual(got, reference(buf.toString('utf8')).filter((b) => b !== ''), JSON.stringify(buf.toString()));
        assert.equal(sent + split.held, buf.length, 'every byte given out or held');
      }),
      { numRuns: 2000 },
    );
  });
});

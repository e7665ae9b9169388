/**
 * What "a list answer by its shape" means now that every MCP POST's answer is filtered (a list can arrive under another
 * request's id): a result holding a `tools`, `prompts` or `resources` array and no `content` (CallToolResult requires
 * it; no list result has it). Tool results pass exactly as the upstream wrote them; lists are filtered under any id.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeListFilter, makeStreamListFilter, type JsonRpcId, type ListKind } from '../../src/authz/index.js';

const keep = (kind: ListKind, key: string) => (kind === 'tools' ? key === 'get_system_status' : key === 'ok');
const asked = (entries: [JsonRpcId, ListKind][] = []) => new Map<JsonRpcId, ListKind>(entries);
const whole = (text: string, lists = asked(), type = 'application/json') => makeListFilter(lists, keep)(Buffer.from(text), type).toString('utf8');
const stream = (text: string, lists = asked()) => makeStreamListFilter(keep, lists)(text);

/** A tool result as an upstream may write it: a top-level `tools` array, a number past 2^53, \u escapes, spacing. */
const TOOL_RESULT =
  '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"caf\\u00e9 \\"tools\\""}],' +
  '"structuredContent":{"id":12345678901234567890,"2":"b","1":"a","tools":[{"name":"install_package"}]},' +
  ' "tools": [{"name":"install_package"}]}}';
const LIST = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_system_status"},{"name":"install_package"}]}}';
const FILTERED = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_system_status"}]}}';

describe('list answers by shape', () => {
  test('a tool result passes byte for byte (numbers past 2^53, key order, escapes, a top-level tools array), in both filters', () => {
    assert.equal(whole(TOOL_RESULT), TOOL_RESULT);
    assert.equal(stream(TOOL_RESULT), TOOL_RESULT);
    assert.equal(whole(`[${TOOL_RESULT}]`), `[${TOOL_RESULT}]`);
    const sse = `event: message\nid: 3\ndata: ${TOOL_RESULT}\n\n`;
    assert.equal(whole(sse, asked(), 'text/event-stream'), sse);
  });

  test('a list answer under any id, or under an id that asked for another list, is filtered', () => {
    assert.equal(whole(LIST), FILTERED);
    assert.equal(stream(LIST), FILTERED);
    assert.equal(whole(LIST.replace('"id":1', '"id":"1"')), FILTERED.replace('"id":1', '"id":"1"'));
    // The POST asked prompts/list with id 1; a tools answer with id 1 (another POST's) is filtered all the same.
    assert.equal(whole(LIST, asked([[1, 'prompts']])), FILTERED);
    assert.equal(stream(LIST, asked([[1, 'prompts']])), FILTERED);
    const resources = '{"jsonrpc":"2.0","id":9,"result":{"resources":[{"uri":"ok"},{"uri":"file:///etc/shadow"}],"nextCursor":"c"}}';
    assert.equal(whole(resources), '{"jsonrpc":"2.0","id":9,"result":{"resources":[{"uri":"ok"}],"nextCursor":"c"}}');
  });

  test('the id a POST asked a list with is strict (an item naming nothing is dropped); by shape such an item stays', () => {
    const odd = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_system_status"},{"title":"x"}]}}';
    assert.equal(whole(odd, asked([[1, 'tools']])), FILTERED);
    assert.equal(whole(odd), odd);
  });

  test('a key written twice is never passed through unread: the text is sent as it was judged', () => {
    const dup = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"install_package"}]},"result":{"content":[]}}';
    assert.equal(whole(dup), '{"jsonrpc":"2.0","id":1,"result":{"content":[]}}');
    assert.equal(stream(dup), '{"jsonrpc":"2.0","id":1,"result":{"content":[]}}');
    // Parsed (it names "tools") and no list, but a key twice: serialized again, never passed as written.
    const dupName = '{"jsonrpc":"2.0","id":1,"result":{"content":[],"x":{"tools":0,"n":1,"n":2}}}';
    assert.equal(whole(dupName), '{"jsonrpc":"2.0","id":1,"result":{"content":[],"x":{"tools":0,"n":2}}}');
  });

  test('data naming no list key passes unparsed; data naming one that does not parse is withheld', () => {
    assert.equal(whole('{"jsonrpc":"2.0","id":1,"result":{"n":1.50}}'), '{"jsonrpc":"2.0","id":1,"result":{"n":1.50}}');
    assert.equal(JSON.parse(whole('{"jsonrpc":"2.0","id":1,"result":{"tools":[')).error.code, -32603);
    assert.throws(() => stream('{"tools": ['), SyntaxError);
  });
});

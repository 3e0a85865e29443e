// Proxy header rules: hop-by-hop and Connection-named fields removed, Host and Expect left to the forwarder, Via
// appended, and our own Via entry recognised as a loop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendVia, endToEndHeaders, viaEntry, viaNames } from '../../../src/forward/headers.ts';

test('end-to-end headers only', () => {
  const req = endToEndHeaders(
    {
      host: 'a.test',
      connection: 'keep-alive, X-Secret',
      'x-secret': '1',
      'proxy-authorization': 'Basic abc',
      'proxy-connection': 'keep-alive',
      'keep-alive': 'timeout=5',
      te: 'gzip, trailers',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      expect: '100-continue',
      'content-length': '5',
      'set-cookie': ['a=1', 'b=2'],
      accept: 'text/html',
      'x-undefined': undefined,
    },
    'request',
  );
  // TE is hop-by-hop, but its trailers member goes on (RFC 9110 §10.1.4), as on the reverse path.
  assert.deepEqual(req, { 'content-length': '5', 'set-cookie': ['a=1', 'b=2'], accept: 'text/html', te: 'trailers' });
  const res = endToEndHeaders(
    { host: 'kept in a response', connection: 'close', 'proxy-authenticate': 'Basic', te: 'trailers' },
    'response',
  );
  assert.deepEqual(res, { host: 'kept in a response' });
});

test('Via is appended, and our own entry is found among others', () => {
  assert.equal(appendVia(undefined, '1.1 wsgate-abc123'), '1.1 wsgate-abc123');
  assert.equal(
    appendVia('1.0 fred, 1.1 p.example.net', '1.1 wsgate-abc123'),
    '1.0 fred, 1.1 p.example.net, 1.1 wsgate-abc123',
  );
  assert.equal(appendVia(['1.0 a', '1.1 b'], viaEntry('wsgate-x')), '1.0 a, 1.1 b, 1.1 wsgate-x');
  assert.equal(viaNames('1.0 fred, 1.1 wsgate-abc123 (wsgate)', 'wsgate-abc123'), true);
  assert.equal(viaNames('1.1 WSGATE-ABC123', 'wsgate-abc123'), true);
  assert.equal(viaNames('1.1 wsgate-abc1234', 'wsgate-abc123'), false);
  assert.equal(viaNames('1.1 other', 'wsgate-abc123'), false);
  assert.equal(viaNames(undefined, 'wsgate-abc123'), false);
});

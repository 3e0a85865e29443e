// The inspector's "Listener/route or host" column (ui/format.js placeOf), run here as the browser would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: browser code without type declarations.
import { placeOf } from '../../../src/inspector/ui/format.js';

test('a row says where its connection went', () => {
  const reverse = { listener: 'web', route: 'chat', host: 'app.test', path: '/chat' };
  assert.equal(placeOf(reverse), 'web/chat');
  // A forward listener of any name: what the client asked for.
  assert.equal(
    placeOf({ listener: 'corp', route: 'corp/tunnel', host: 'api.test:443', path: '/ws' }),
    'api.test:443/ws',
  );
  assert.equal(
    placeOf({ listener: 'corp', route: 'corp/forward', host: 'api.test', path: 'ws://api.test/feed' }),
    'ws://api.test/feed',
    'absolute-form: the host is in the path',
  );
  // Refused before a route was chosen.
  assert.equal(placeOf({ listener: 'web', host: 'app.test', path: '/nowhere' }), 'app.test/nowhere');
  assert.equal(placeOf({ listener: 'web', path: '/nowhere' }), 'web /nowhere', 'no Host either');
  // A reverse route that merely ends in /forward is still a reverse route.
  assert.equal(placeOf({ listener: 'web', route: 'api/forward', host: 'x', path: '/' }), 'web/api/forward');
});

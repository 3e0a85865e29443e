import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactConfigForDisplay } from '../../../src/config/display.ts';

test('passwords and URL credentials are redacted for display, everything else kept', () => {
  const config = {
    proxies: [{ name: 'corp', url: 'http://alice:s3cret@proxy.corp.test:3128', noProxy: [] }],
    listeners: [{ forward: { auth: { users: [{ name: 'bob', password: 'hunter2' }] } } }],
    upstreams: [{ name: 'app', url: 'http://app.test:3000' }],
  };
  const shown = redactConfigForDisplay(config);
  assert.equal(shown.proxies[0]!.url, 'http://alice:[redacted]@proxy.corp.test:3128');
  assert.equal(shown.listeners[0]!.forward.auth.users[0]!.password, '[redacted]');
  assert.equal(shown.listeners[0]!.forward.auth.users[0]!.name, 'bob');
  assert.equal(shown.upstreams[0]!.url, 'http://app.test:3000');
  assert.equal(config.proxies[0]!.url, 'http://alice:s3cret@proxy.corp.test:3128', 'the input is not changed');
  assert.deepEqual(redactConfigForDisplay(config, true), config);
});

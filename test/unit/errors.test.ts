// The error table's builders that pick a hint by cause: each cause of a failed bind gets advice that fits it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listenFailed } from '../../src/errors.ts';

const failure = (code: string) => Object.assign(new Error(`listen ${code}`), { code });

test('a failed bind keeps its cause as the message and gets the hint for that cause', () => {
  const cases: [string, string, number, RegExp][] = [
    ['EADDRINUSE', '127.0.0.1', 8080, /^Another process holds port 8080 here .*ss -ltnp.*lsof/],
    ['EADDRNOTAVAIL', '10.1.2.3', 8080, /^No network interface of this machine has the address 10\.1\.2\.3: /],
    ['EACCES', '0.0.0.0', 443, /^Ports below 1024 need privileges: .*docs\/tls\.md/],
    ['EACCES', '0.0.0.0', 8080, /^The system does not let this user bind port 8080 /],
    ['ENOTFOUND', 'nope.example', 8080, /^The host name nope\.example does not resolve here: bind an IP address/],
    ['EAI_AGAIN', 'nope.example', 8080, /^No name server answered for nope\.example: bind an IP address/],
  ];
  for (const [code, host, port, hint] of cases) {
    const err = listenFailed({ host, port, address: `${host}:${port}` }, failure(code));
    assert.equal(err.code, 'WSG_LISTEN_FAILED');
    assert.equal(err.message, `cannot listen on ${host}:${port}: ${code}`);
    assert.equal(err.exitCode, 1);
    assert.match(err.hint ?? '', hint, code);
    assert.equal((err.cause as Error).message, `listen ${code}`);
  }
  // No port-in-use guess for a cause it does not fit.
  for (const code of ['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EACCES']) {
    const err = listenFailed({ host: 'h', port: 1, address: 'h:1' }, failure(code));
    assert.doesNotMatch(err.hint ?? '', /Another process/, code);
  }
  // A cause with no advice of its own gets the general hint, and a message-only error its message.
  const odd = listenFailed({ host: 'h', port: 1, address: 'h:1' }, new Error('something else'));
  assert.equal(odd.message, 'cannot listen on h:1: something else');
  assert.match(odd.hint ?? '', /^Check that /);
});

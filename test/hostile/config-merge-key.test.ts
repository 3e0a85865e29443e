// Hostile case 42, the one shape the config unit tests did not cover: a YAML merge key (`<<: *anchor`) meant to pull
// a route's fields into another. wsgate reads YAML 1.2, where `<<` is no merge but a plain key, so nothing is pulled
// in: the strict schema refuses the key with its exact path (and the route it was meant to fill lacks its
// upstream), in the loader and in `wsgate check` (exit 2). Unknown keys, wrong types, duplicate keys and custom tags
// are in test/unit/config/issues.test.ts; hot reload keeping the old config on a rejected file in
// test/unit/config/watch.test.ts and test/integration/cli/lifecycle.test.ts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigText } from '../../src/config/load.ts';
import { WsgateError } from '../../src/errors.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tls.ts';

const MERGED = `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - &base { name: base, upstream: "ws://127.0.0.1:9", tap: payload }
      - <<: *base
        match: { pathPrefix: /x }
`;

const EXPECTED = [
  'c.yaml:6:9 listeners[0].routes[1].upstream: required key is missing',
  'c.yaml:6:9 listeners[0].routes[1]["<<"]: unknown key "<<"',
];

test('case 42: a YAML merge key is refused with its exact path; nothing is merged', () => {
  assert.throws(
    () => loadConfigText(MERGED, 'c.yaml', {}),
    (err: unknown) => {
      assert.ok(err instanceof WsgateError);
      assert.equal(err.code, 'WSG_CONFIG_INVALID');
      assert.equal(err.exitCode, 2);
      assert.deepEqual(err.message.split('\n'), EXPECTED);
      return true;
    },
  );
});

test('case 42: wsgate check refuses a merge key with exit code 2, naming the file, line and path', async (t) => {
  const file = join(tempDir(t, 'wsgate-merge-'), 'c.yaml');
  writeFileSync(file, MERGED);
  const r = await runCli(['check', '-c', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(`${file}:6:9 listeners[0].routes[1]["<<"]: unknown key "<<"`), r.stderr);
});

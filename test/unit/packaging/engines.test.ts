// `engines.node` names the Node 24 patch release the tests run on (issue 11, item 8): older patch releases lack
// HTTP-parser security fixes. When the node devDependency moves, this test asks for engines to move with it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};

test('engines.node requires at least the Node release the tests run on', () => {
  const match = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);
  assert.ok(match, `engines.node is ">=MAJOR.MINOR.PATCH", got ${pkg.engines.node}`);
  const required = match.slice(1).map(Number);
  const running = process.versions.node.split('.').map(Number);
  assert.equal(required[0], 24, 'Node 24 is the supported line');
  assert.deepEqual(
    required,
    running,
    `engines.node (${pkg.engines.node}) is the Node the tests run on (${process.versions.node})`,
  );
  assert.equal(
    pkg.devDependencies['node'],
    `^${match.slice(1).join('.')}`,
    'the node devDependency pins the same release',
  );
});

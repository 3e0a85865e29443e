// Hostile case 41 at the level a user meets it: `wsgate check` and `wsgate run` on a YAML "billion laughs" file
// (10 aliases x 10 levels) refuse it with exit code 2 and say why, quickly. The loader's own rules (alias count,
// file size, unknown keys and tags: cases 41 and 42) are unit-tested in test/unit/config.
// Not here yet: case 43 (inspector/admin exposure), as there is no inspector.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.ts';

function laughs(): string {
  const lines = [`x0: &x0 [${Array(10).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < 10; i += 1)
    lines.push(
      `x${i}: &x${i} [${Array(10)
        .fill(`*x${i - 1}`)
        .join(', ')}]`,
    );
  // A valid config around it, the bomb expanded where a header value is expected.
  lines.push(
    'listeners:',
    '  - name: web',
    '    bind: 127.0.0.1:0',
    '    routes:',
    '      - upstream: ws://127.0.0.1:9',
    '        match: { headers: { x-lol: *x9 } }',
  );
  return `${lines.join('\n')}\n`;
}

for (const command of ['check', 'run'] as const) {
  test(`case 41: wsgate ${command} refuses a billion-laughs config with exit code 2`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wsgate-hostile-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'laughs.yaml');
    writeFileSync(file, laughs());
    // 10^10 nodes if expanded: finishing at all (bounded by runCli's kill timer) means it was not.
    const result = await runCli([command, '-c', file], { timeoutMs: 15_000 });
    assert.equal(result.signal, null, 'exited by itself');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /laughs\.yaml:\d+:\d+ .*aliases expand to too many nodes/);
    assert.doesNotMatch(result.stderr, /listening/);
  });
}

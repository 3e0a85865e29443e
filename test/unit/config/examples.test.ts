// Every config in config/examples passes `wsgate check` (one per rule action, fault and profile, and the larger
// reverse and forward examples), so the examples people copy from always load.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkCommand } from '../../../src/cli/check.ts';

test('every config in config/examples passes wsgate check', async () => {
  const files = readdirSync('config/examples').filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 10, `examples: ${files.join(', ')}`);
  for (const f of files) {
    let out = '';
    const write = (t: string) => {
      out += t;
    };
    const io = { out: write, err: write };
    const code = await checkCommand(['-q', '-c', join('config/examples', f)], io).catch((err: Error) => err.message);
    assert.deepEqual({ code, out }, { code: 0, out: '' }, f);
  }
});

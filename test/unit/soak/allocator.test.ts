import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { chooseAllocator } from '../../../scripts/soak/allocator.ts';

test('SOAK_ALLOCATOR=glibc preloads nothing; anything but jemalloc or glibc is refused', () => {
  assert.deepEqual(chooseAllocator('glibc'), { name: 'glibc', env: {} });
  assert.throws(() => chooseAllocator('tcmalloc'), /SOAK_ALLOCATOR must be jemalloc or glibc/);
});

test('by default jemalloc is preloaded when the machine has it, else glibc with a note saying how to get it', () => {
  const chosen = chooseAllocator(undefined);
  if (chosen.name === 'jemalloc') {
    assert.match(chosen.env['LD_PRELOAD'] ?? '', /libjemalloc\.so\.2$/);
    assert.ok(existsSync(chosen.env['LD_PRELOAD']!));
    assert.equal(chosen.note, undefined);
  } else {
    assert.deepEqual(chosen.env, {});
    assert.match(chosen.note ?? '', /apt-get install libjemalloc2/);
    assert.throws(() => chooseAllocator('jemalloc'), /SOAK_ALLOCATOR=jemalloc: no libjemalloc/);
  }
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalPath, type PathAmbiguity, removeDotSegments } from '../../../src/http/path.ts';

describe('removeDotSegments (RFC 3986 §5.2.4 and the §5.4 examples)', () => {
  const cases: [input: string, want: string][] = [
    ['/a/b/c/./../../g', '/a/g'],
    ['mid/content=5/../6', 'mid/6'],
    ['/', '/'],
    ['/.', '/'],
    ['/..', '/'],
    ['/../', '/'],
    ['/../../x', '/x'],
    ['/a/..', '/'],
    ['/a/../', '/'],
    ['/a/./b/', '/a/b/'],
    ['/a/.b/..c/', '/a/.b/..c/'],
    ['/a/b/..', '/a/'],
    ['/public/../admin', '/admin'],
    ['/public/./x', '/public/x'],
    ['/a//../b', '/a/b'],
    ['/a/b//', '/a/b//'],
    ['/...', '/...'],
  ];
  for (const [input, want] of cases) {
    test(`${input} → ${want}`, () => assert.equal(removeDotSegments(input), want));
  }
});

describe('canonical paths (RFC 3986 §6.2.2)', () => {
  const cases: [input: string, want: string][] = [
    ['/', '/'],
    ['/public/x', '/public/x'],
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['/public/.%2e/admin', '/admin'],
    ['/public/./x', '/public/x'],
    ['/%70ublic/x', '/public/x'],
    ['/%7Euser/%41%5a%30%2D%5F', '/~user/AZ0-_'],
    // Reserved and other characters stay encoded, with upper-case hex.
    ['/a%3fb%20c%e2%82%ac', '/a%3Fb%20c%E2%82%AC'],
    ['/a%3Bb', '/a%3Bb'],
    ['/a;b/c', '/a;b/c'],
    ['/a/..b/c', '/a/..b/c'],
    ['/a//b', '/a//b'],
    ['/a%25b', '/a%25b'],
    ['/x/%2e', '/x/'],
  ];
  for (const [input, want] of cases) {
    test(`${input} → ${want}`, () => assert.deepEqual(canonicalPath(input), { ok: true, path: want }));
  }
});

describe('ambiguous paths: no canonical form, and why', () => {
  const cases: [input: string, ambiguity: PathAmbiguity, lenient: string][] = [
    ['/public%2Fadmin', 'encoded-slash', '/public%2Fadmin'],
    ['/public%2fadmin', 'encoded-slash', '/public%2Fadmin'],
    ['/public/..%2Fadmin', 'encoded-slash', '/public/..%2Fadmin'],
    ['/a%5Cb', 'encoded-backslash', '/a%5Cb'],
    ['/public\\..\\admin', 'backslash', '/public\\..\\admin'],
    ['/a%00b', 'encoded-nul', '/a%00b'],
    ['/a%ZZ', 'invalid-encoding', '/a%ZZ'],
    ['/a%', 'invalid-encoding', '/a%'],
    ['/a%4', 'invalid-encoding', '/a%4'],
    ['/a%252e%252e/b', 'double-encoding', '/a%252e%252e/b'],
    ['/a%252F', 'double-encoding', '/a%252F'],
    ['/public/..;/admin', 'dot-segment-parameters', '/public/..;/admin'],
    ['/public/%2e%2e;x/admin', 'dot-segment-parameters', '/public/..;x/admin'],
    ['/.;/x', 'dot-segment-parameters', '/.;/x'],
    // The lenient path still resolves what is unambiguous around the ambiguity.
    ['/a/../b%2Fc', 'encoded-slash', '/b%2Fc'],
  ];
  for (const [input, ambiguity, lenient] of cases) {
    test(`${input}: ${ambiguity}`, () => {
      const result = canonicalPath(input);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.ambiguity, ambiguity);
      assert.equal(result.path, lenient);
      assert.ok(result.detail.length > 0);
    });
  }

  test('the first ambiguity is the one reported', () => {
    const result = canonicalPath('/a%5C/b%2F');
    assert.equal(result.ok ? undefined : result.ambiguity, 'encoded-backslash');
  });

  test('the detail quotes at most a short piece of the path', () => {
    const result = canonicalPath(`/${'x'.repeat(5000)}/..;${'y'.repeat(5000)}`);
    assert.ok(!result.ok && result.detail.length < 200, result.ok ? '' : result.detail);
  });
});

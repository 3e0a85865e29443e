// A rule event in `wsgate tail`: the rule, what it did, and a mark's tag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTrafficLine } from '../../../src/traffic/render.ts';

test('ws.rule lines name the rule, the action, what it did and the mark', () => {
  const line = JSON.stringify({
    event: 'ws.rule',
    time: '2026-12-02T12:00:01.020Z',
    conn: 'w7',
    route: 'chat',
    dir: 'toClient',
    rule: 'slow-typing',
    action: 'delay+mark',
    detail: 'delayed 500ms; marked "typing"',
    mark: 'typing',
  });
  assert.equal(
    renderTrafficLine(line, { color: false, frames: false }),
    '12:00:01.020 w7 ← rule slow-typing delay+mark: delayed 500ms; marked "typing" [typing]',
  );
  assert.equal(renderTrafficLine(line, { color: false, frames: false, grep: 'nothing' }), undefined);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LogTally } from '../../../scripts/soak/log-tally.ts';

const frame = '{"level":"info","event":"ws.frame","dir":"toUpstream","msg":"→ frame text 64 B"}';
const message = '{"level":"info","event":"ws.message","dir":"toClient","msg":"← text 64 B"}';
const open = '{"level":"info","event":"ws.open","msg":"WebSocket open /soak"}';
const dropped = (n: number, other = 0) =>
  `{"level":"warn","event":"log.dropped","destination":"/tmp/x.log","dropped":${n},"droppedOther":${other},"recovered":true}`;

describe('LogTally', () => {
  test('counts lines, traffic lines and the drops wsgate reported', () => {
    const t = new LogTally();
    t.push([open, frame, message, dropped(120), frame, dropped(30, 2), ''].join('\n'));
    assert.deepEqual(t.end(), { lines: 6, trafficLines: 3, droppedTraffic: 150, droppedOther: 2 });
  });
  test('a line split across chunks is counted once, whole', () => {
    const text = [frame, dropped(7), message].join('\n');
    for (let cut = 1; cut < text.length; cut += 17) {
      const t = new LogTally();
      t.push(text.slice(0, cut));
      t.push(text.slice(cut));
      assert.deepEqual(t.end(), { lines: 3, trafficLines: 2, droppedTraffic: 7, droppedOther: 0 }, `cut at ${cut}`);
    }
  });
  test('a traffic line that merely quotes "log.dropped" in a preview is not a drop report', () => {
    const t = new LogTally();
    t.push(`{"event":"ws.message","preview":"\\"event\\":\\"log.dropped\\",\\"dropped\\":99"}\n`);
    assert.deepEqual(t.end(), { lines: 1, trafficLines: 1, droppedTraffic: 0, droppedOther: 0 });
  });
  test('an empty log', () =>
    assert.deepEqual(new LogTally().end(), { lines: 0, trafficLines: 0, droppedTraffic: 0, droppedOther: 0 }));
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clientVerdict,
  loadVerdict,
  memoryDiagnosis,
  renderReport,
  renderTable,
  type SoakResult,
  tens,
  verdicts,
} from '../../../scripts/soak/report.ts';

const MiB = 1024;

function result(over: Partial<SoakResult> = {}): SoakResult {
  const sample = (rssMiB: number, heapUsedMiB: number | null = null, heapTotalMiB: number | null = null) => ({
    rssKiB: rssMiB * MiB,
    lazyFreeKiB: null,
    heapUsedKiB: heapUsedMiB === null ? null : heapUsedMiB * MiB,
    heapTotalKiB: heapTotalMiB === null ? null : heapTotalMiB * MiB,
  });
  return {
    conns: 10_000,
    opened: 10_000,
    openFailures: 0,
    seconds: 60,
    rampSeconds: 8.5,
    handshake: { p50: 2, p99: 40, max: 120 },
    listenDrops: 0,
    size: 64,
    workers: 2,
    allocator: 'jemalloc',
    tap: 'frames',
    clients: 2,
    totals: { sent: 600_000, received: 600_000, lost: 0, reordered: 0, unexpected: 0 },
    corrupt: 0,
    skipped: 0,
    unexpectedCloses: 0,
    closeCodes: {},
    rtt: { p50: 1.2, p99: 25, max: 80 },
    worstBySecond: [3, 80, 4, 5, 6, 7, 8, 9, 10, 11, 2.5, 2],
    lateness: { p99: 4, max: 30 },
    memory: {
      idle: sample(100, 30, 40),
      open: sample(500),
      peakRssKiB: 600 * MiB,
      end: sample(550),
      afterClose: sample(105, 32, 45),
    },
    afterGc: sample(104, 31, 44),
    settleSeconds: 15,
    cpu: { wsgate: 30, echo: 10, clients: [12, 11], windowSeconds: 60 },
    load: { start: '1.00 1.00 1.00', end: '2.00 1.50 1.10' },
    cpus: 2,
    log: {
      file: 'a file in the temp dir',
      bytes: 700 * MiB * MiB,
      counts: { lines: 2_400_010, trafficLines: 2_400_000, droppedTraffic: 0, droppedOther: 0 },
    },
    notes: ['2 CPUs'],
    ...over,
  };
}

describe('verdicts', () => {
  test('a clean run passes all three', () => {
    assert.deepEqual(
      verdicts(result()).map((v) => v.pass),
      [true, true, true],
    );
  });
  test('one unexpected close fails the first', () => {
    const v = verdicts(result({ unexpectedCloses: 1, closeCodes: { '1006': 1 } }));
    assert.equal(v[0]!.pass, false);
    assert.match(v[0]!.detail, /1 unexpected closes/);
  });
  test('a connection that never opened fails the first too', () => {
    assert.equal(verdicts(result({ opened: 9_999, openFailures: 1 }))[0]!.pass, false);
  });
  test('one lost, one reordered, or one corrupt message fails the second', () => {
    const totals = { sent: 10, received: 9, lost: 0, reordered: 0, unexpected: 0 };
    assert.equal(verdicts(result({ totals: { ...totals, lost: 1 } }))[1]!.pass, false);
    assert.equal(verdicts(result({ totals: { ...totals, reordered: 1 } }))[1]!.pass, false);
    assert.equal(verdicts(result({ totals: { ...totals, unexpected: 1 } }))[1]!.pass, false);
    assert.equal(verdicts(result({ corrupt: 1 }))[1]!.pass, false);
  });
  test('RSS 10 % over idle passes, 11 % fails', () => {
    const r = result();
    r.memory.afterClose = { rssKiB: 110 * MiB, lazyFreeKiB: null, heapUsedKiB: null, heapTotalKiB: null };
    assert.equal(verdicts(r)[2]!.pass, true);
    r.memory.afterClose = { rssKiB: 111 * MiB, lazyFreeKiB: null, heapUsedKiB: null, heapTotalKiB: null };
    const v = verdicts(r)[2]!;
    assert.equal(v.pass, false);
    assert.match(v.detail, /111 MiB after 15 s vs 100 MiB idle \(\+11\.0 %\)/);
  });
});

describe('clientVerdict', () => {
  test('clients well under a core and on time kept up', () => {
    assert.match(clientVerdict(result()), /^The client side kept up: busiest client process 20\.0 % of a core/);
  });
  test('a client near a full core may have been the bottleneck', () => {
    assert.match(
      clientVerdict(result({ cpu: { wsgate: 30, echo: 10, clients: [58, 20], windowSeconds: 60 } })),
      /may have been a bottleneck/,
    );
  });
  test('sends leaving late by more than 100 ms at p99 too', () => {
    assert.match(clientVerdict(result({ lateness: { p99: 150, max: 400 } })), /may have been a bottleneck/);
  });
});

describe('tens', () => {
  test('the maximum of each ten seconds, a short last group included', () => {
    assert.equal(tens([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 0.5]), '10.0, 20.0 ms');
  });
  test('nothing received', () => assert.equal(tens([]), '–'));
});

describe('loadVerdict', () => {
  test('a load average up to the CPU count says nothing', () => assert.equal(loadVerdict(result()), null));
  test('above it, the wait for a CPU is said, with what the soak itself used', () => {
    const v = loadVerdict(result({ load: { start: '6.90 8.44 6.96', end: '9.67 8.65 7.18' } }));
    assert.match(v!, /load average up to 9\.7 on 2 CPUs/);
    assert.match(v!, /together used 105 % of one core of the 200 %/); // (30 + 10 + 12 + 11) / 60
  });
});

describe('memoryDiagnosis', () => {
  test('none when the target was met', () => assert.equal(memoryDiagnosis(result()), null));
  test('back within 10 % after the last-resort GC: garbage and pooled pages, not a leak', () => {
    const r = result();
    r.memory.afterClose = { rssKiB: 300 * MiB, lazyFreeKiB: 0, heapUsedKiB: 150 * MiB, heapTotalKiB: 230 * MiB };
    r.afterGc = { rssKiB: 101 * MiB, lazyFreeKiB: 0, heapUsedKiB: 25 * MiB, heapTotalKiB: 35 * MiB };
    const d = memoryDiagnosis(r)!;
    assert.match(d, /^RSS after close is \+200 MiB over idle, with 150 MiB of V8 heap in use \(idle 30\.0 MiB\)/);
    assert.match(d, /RSS 101 MiB \(\+1\.0 % vs idle\), heap used 25\.0 MiB: the growth was garbage/);
    assert.match(d, /not a leak/);
  });
  test('still over after the GC: splits what stays into live objects, empty heap pages and the rest', () => {
    const r = result();
    r.memory.afterClose = { rssKiB: 200 * MiB, lazyFreeKiB: null, heapUsedKiB: 60 * MiB, heapTotalKiB: 90 * MiB };
    r.afterGc = { rssKiB: 190 * MiB, lazyFreeKiB: 80 * MiB, heapUsedKiB: 33 * MiB, heapTotalKiB: 80 * MiB };
    const d = memoryDiagnosis(r)!;
    assert.doesNotMatch(d, /not a leak/);
    assert.match(d, /RSS 190 MiB \(\+90\.0 % vs idle\)/);
    assert.match(d, /live JS objects \+3\.0 MiB/);
    assert.match(d, /empty V8 heap pages \+37\.0 MiB/); // heap total +40, of which 3 live
    assert.match(d, /allocator has not returned\) \+50\.0 MiB/); // RSS +90 after GC, heap total +40
    assert.match(d, /80\.0 MiB of it is LazyFree/);
  });
  test('none without the probe', () => {
    const r = result({ afterGc: null });
    r.memory.afterClose = { rssKiB: 200 * MiB, lazyFreeKiB: null, heapUsedKiB: null, heapTotalKiB: null };
    assert.equal(memoryDiagnosis(r), null);
  });
});

describe('renderTable / renderReport', () => {
  test("the log row says what wsgate's log queue dropped, and nothing more when the log went to /dev/null", () => {
    const counts = { lines: 10, trafficLines: 8, droppedTraffic: 500, droppedOther: 1 };
    assert.match(
      renderTable(result({ log: { file: 'x.log', bytes: 2048, counts } })),
      /x\.log: 10 lines, 0\.0 MiB; 8 frame\/message lines, 500 traffic lines and 1 others dropped by its log queue/,
    );
    assert.match(
      renderTable(result({ log: { file: '/dev/null', bytes: null, counts: null } })),
      /wsgate log +\| \/dev\/null +\|/,
    );
  });
  test('a markdown table with every figure the issue asks for', () => {
    const t = renderTable(result({ unexpectedCloses: 2, closeCodes: { '1006': 2 } }));
    const lines = t.split('\n');
    assert.match(lines[0]!, /^\| metric +\| value +\|$/);
    assert.match(lines[1]!, /^\| -+ \| -+ \|$/);
    assert.ok(
      lines.every((l) => l.length === lines[0]!.length),
      'aligned columns',
    );
    for (const want of [
      /connections +\| 10000 of 10000/,
      /duration +\| 60 s of sending after a 8\.5 s ramp-up/,
      /handshake p50 \/ p99 \/ max \(ramp-up\) +\| 2\.00 ms \/ 40\.0 ms \/ 120 ms/,
      /listen-queue drops \(ramp-up\) +\| 0 /,
      /messages sent \/ received +\| 600000 \/ 600000/,
      /lost +\| 0 /,
      /reordered +\| 0 /,
      /unexpected closes +\| 2 \(2 × 1006\)/,
      /RTT p50 \/ p99 \/ max +\| 1\.20 ms \/ 25\.0 ms \/ 80\.0 ms/,
      /longest RTT in each 10 s +\| 80\.0, 2\.50 ms/,
      /RSS idle.*\| 100 MiB \(V8 heap used 30\.0 MiB of 40\.0 MiB\)/,
      /RSS per connection \(open \/ peak\) +\| 41\.0 KiB \/ 51\.2 KiB/,
      /RSS after close \(\+15 s\) +\| 105 MiB/,
      /CPU while sending.*wsgate 50\.0 %, echo 16\.7 %, clients 20\.0 % \+ 18\.3 %/,
      /wsgate +\| 2 workers \+ primary, tap frames, log level info/,
      /load average.*1\.00 1\.00 1\.00 → 2\.00 1\.50 1\.10/,
      /wsgate log +\| a file in the temp dir: 2400010 lines, 700 MiB; 2400000 frame\/message lines, none dropped/,
    ]) {
      assert.match(t, want);
    }
  });
  test('the report ends with PASS/FAIL lines and the notes', () => {
    const r = result({ totals: { sent: 10, received: 9, lost: 1, reordered: 0, unexpected: 0 } });
    const out = renderReport(r);
    assert.match(out, /^PASS zero unexpected closes/m);
    assert.match(out, /^FAIL zero lost or reordered messages: 1 lost, 0 reordered/m);
    assert.match(out, /^PASS RSS after close within 10 % of the idle baseline/m);
    assert.match(out, /^Note: 2 CPUs\.$/m);
  });
});

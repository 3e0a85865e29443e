import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  descendants,
  parseMaxOpenFiles,
  parseStat,
  parseVmRssKiB,
  processTree,
  treeCpuMicros,
  treeRssKiB,
} from '../../../scripts/bench/proc.ts';

// A real /proc/PID/stat line (cat), and the same with a hostile command name.
const CAT =
  '19379 (cat) R 19377 19377 14414 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 1 0 229561 3133440 414 ' +
  '18446744073709551615 94172050464768 94172050484649 140736470413904 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n';

describe('parseStat', () => {
  test('reads pid, comm, state, ppid, utime and stime', () => {
    assert.deepEqual(parseStat(CAT), { pid: 19379, comm: 'cat', state: 'R', ppid: 19377, utime: 7, stime: 3 });
  });
  test('a command name with spaces and parentheses does not shift the fields', () => {
    const line = CAT.replace('(cat)', '(node (x) y z)');
    const st = parseStat(line);
    assert.equal(st.comm, 'node (x) y z');
    assert.equal(st.ppid, 19377);
    assert.equal(st.utime, 7);
    assert.equal(st.stime, 3);
  });
  test('nginx worker titles', () => {
    const line = '2001 (nginx) S 2000 2000 2000 0 -1 4194624 600 0 0 0 1234 567 0 0 20 0 1 0 5000 1 2';
    const st = parseStat(line);
    assert.equal(st.utime + st.stime, 1801);
    assert.equal(st.ppid, 2000);
  });
  test('garbage throws', () => {
    assert.throws(() => parseStat('hello'));
    assert.throws(() => parseStat('1 (x) S'));
  });
});

describe('parseVmRssKiB', () => {
  test('reads VmRSS', () => {
    const status = 'Name:\tnode\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nRssAnon:\t   40000 kB\n';
    assert.equal(parseVmRssKiB(status), 51234);
  });
  test('absent (zombie) is null', () => assert.equal(parseVmRssKiB('Name:\tx\nState:\tZ (zombie)\n'), null));
});

describe('parseMaxOpenFiles', () => {
  const limits =
    'Limit                     Soft Limit           Hard Limit           Units     \n' +
    'Max cpu time              unlimited            unlimited            seconds   \n' +
    'Max open files            1024                 524288               files     \n';
  test('soft and hard', () => assert.deepEqual(parseMaxOpenFiles(limits), { soft: 1024, hard: 524288 }));
  test('unlimited is null', () =>
    assert.deepEqual(parseMaxOpenFiles('Max open files            unlimited            unlimited            files\n'), {
      soft: null,
      hard: null,
    }));
});

describe('descendants', () => {
  test('walks the whole tree and nothing else', () => {
    const parentOf = new Map([
      [1, 0],
      [10, 1],
      [11, 10],
      [12, 10],
      [13, 12],
      [20, 1],
    ]);
    assert.deepEqual(
      descendants(10, parentOf).sort((a, b) => a - b),
      [10, 11, 12, 13],
    );
  });
  test('a leaf is its own tree', () => assert.deepEqual(descendants(13, new Map([[13, 12]])), [13]));
});

describe('live readers (this process)', () => {
  test('the tree contains this process, CPU and RSS are positive', () => {
    assert.ok(processTree(process.pid).includes(process.pid));
    assert.ok(treeCpuMicros(process.pid) > 0);
    assert.ok(treeRssKiB(process.pid) > 1000);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { definitions } from '../../../scripts/bench/proxies.ts';
import { relayTargets, rulesConfig } from '../../../scripts/bench/relay-variants.ts';
import { summarize } from '../../../scripts/bench/report.ts';
import { evaluateTargets } from '../../../scripts/bench/targets.ts';
import { loadConfigText } from '../../../src/config/load.ts';
import { matrix, SCENARIOS } from './helpers.ts';

function rows(proxies: Record<string, { thr: number | ((sc: string, rep: number) => number) }>) {
  const raw = matrix({ reps: 3, proxies });
  const names = ['direct', ...Object.keys(proxies)];
  return relayTargets({ raw, proxies: names, scenarios: SCENARIOS });
}

const find = (r: ReturnType<typeof rows>, text: string) => {
  const row = r.find((x) => x.target.includes(text));
  assert.ok(row, `no row containing "${text}"`);
  return row;
};

describe('relay targets (issue 12)', () => {
  test('relay at half of passthrough or more is met; rules elsewhere within noise is met', () => {
    const r = rows({
      'wsgate-off': { thr: 0.8 },
      'wsgate-relay': { thr: 0.44 },
      'wsgate-rules-elsewhere': { thr: 0.76 },
    });
    assert.equal(r.length, 3);
    assert.equal(find(r, 'at 64B-c50').status, 'met');
    assert.match(find(r, 'at 64B-c50').detail, /^0\.55 of passthrough/);
    assert.equal(find(r, 'at 64KiB-c4').status, 'met');
    assert.equal(find(r, 'rules-elsewhere').status, 'met');
    assert.match(find(r, 'rules-elsewhere').detail, /64B-c1 0\.95/);
  });

  test('relay below half, or rules elsewhere below the noise band in one scenario, is not met', () => {
    const r = rows({
      'wsgate-off': { thr: 0.8 },
      'wsgate-relay': { thr: (sc) => (sc === '64KiB-c4' ? 0.3 : 0.6) },
      'wsgate-rules-elsewhere': { thr: (sc) => (sc === '1MiB-c4' ? 0.6 : 0.8) },
    });
    assert.equal(find(r, 'at 64B-c50').status, 'met');
    assert.equal(find(r, 'at 64KiB-c4').status, 'not met');
    assert.equal(find(r, 'rules-elsewhere').status, 'not met');
  });

  test('without the variants the rows are n/a, and evaluateTargets carries them', () => {
    const r = rows({ 'wsgate-off': { thr: 0.8 } });
    assert.ok(r.every((x) => x.status === 'n/a'));
    const raw = matrix({ reps: 1, proxies: { 'wsgate-off': { thr: 0.8 } } });
    const all = evaluateTargets({
      summary: summarize(raw, ['direct', 'wsgate-off'], SCENARIOS),
      raw,
      proxies: ['direct', 'wsgate-off'],
      scenarios: SCENARIOS,
      skipped: [],
    });
    assert.equal(all.filter((x) => x.target.startsWith('wsgate-relay')).length, 2);
  });

  test('the variants exist when tap off does, and their configs parse', () => {
    assert.deepEqual(
      definitions(['off', 'frames'])
        .filter((d) => d.name.includes('rule') || d.name.includes('relay'))
        .map((d) => d.name),
      ['wsgate-relay', 'wsgate-rules-elsewhere'],
    );
    assert.equal(definitions(['frames']).filter((d) => d.name === 'wsgate-relay').length, 0);
    for (const placement of ['route', 'elsewhere'] as const) {
      const config = loadConfigText(rulesConfig(1234, '127.0.0.1:5678', placement), 'bench.yaml', {});
      const routes = config.listeners[0]!.routes.map((r) => [r.name, r.rules]);
      assert.deepEqual(
        routes,
        placement === 'route'
          ? [['bench', ['rewrite']]]
          : [
              ['other', ['rewrite']],
              ['bench', []],
            ],
      );
    }
  });
});

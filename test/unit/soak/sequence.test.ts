import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addTotals,
  addTracker,
  emptyTotals,
  formatMessage,
  parseMessage,
  SequenceTracker,
} from '../../../scripts/soak/sequence.ts';

describe('formatMessage / parseMessage', () => {
  test('round trip at the configured size', () => {
    const text = formatMessage(9876, 59, 64);
    assert.equal(text.length, 64);
    assert.deepEqual(parseMessage(text), { seq: 59, conn: 9876 });
  });
  test('a head longer than the size is sent whole', () => {
    assert.equal(formatMessage(123456, 7890, 8), '7890:123456:');
    assert.deepEqual(parseMessage('7890:123456:'), { seq: 7890, conn: 123456 });
  });
  test('altered or foreign text is not ours', () => {
    assert.equal(parseMessage('hello'), null);
    assert.equal(parseMessage('1:2:..x.'), null);
    assert.equal(parseMessage('1:2'), null);
    assert.equal(parseMessage(':2:...'), null);
  });
});

describe('SequenceTracker', () => {
  test('echoes in order: round trips measured, nothing lost', () => {
    const t = new SequenceTracker();
    assert.equal(t.send(100), 0);
    assert.equal(t.send(1100), 1);
    assert.deepEqual(t.echo(0, 101.5), { kind: 'in-order', rttMs: 1.5 });
    assert.deepEqual(t.echo(1, 1103), { kind: 'in-order', rttMs: 3 });
    assert.equal(t.sent, 2);
    assert.equal(t.received, 2);
    assert.equal(t.outstanding, 0);
    assert.equal(t.reordered, 0);
  });
  test('an echo arriving after a later one is reordered, and still received', () => {
    const t = new SequenceTracker();
    t.send(0);
    t.send(1);
    t.send(2);
    assert.equal(t.echo(1, 5).kind, 'in-order');
    assert.equal(t.echo(2, 6).kind, 'in-order');
    assert.deepEqual(t.echo(0, 7), { kind: 'reordered', rttMs: 7 });
    assert.equal(t.reordered, 1);
    assert.equal(t.received, 3);
    assert.equal(t.outstanding, 0);
  });
  test('a missing echo stays outstanding and counts as lost in the totals', () => {
    const t = new SequenceTracker();
    t.send(0);
    t.send(1);
    t.send(2);
    t.echo(0, 1);
    t.echo(2, 3);
    const totals = addTracker(emptyTotals(), t);
    assert.deepEqual(totals, { sent: 3, received: 2, lost: 1, reordered: 0, unexpected: 0 });
  });
  test('a second copy, or a number never sent, is unexpected and not received', () => {
    const t = new SequenceTracker();
    t.send(0);
    t.echo(0, 1);
    assert.deepEqual(t.echo(0, 2), { kind: 'unexpected' });
    assert.deepEqual(t.echo(42, 2), { kind: 'unexpected' });
    assert.equal(t.unexpected, 2);
    assert.equal(t.received, 1);
  });
  test('totals add up across connections and processes', () => {
    const a = { sent: 10, received: 9, lost: 1, reordered: 2, unexpected: 0 };
    const b = { sent: 5, received: 5, lost: 0, reordered: 0, unexpected: 3 };
    assert.deepEqual(addTotals(a, b), { sent: 15, received: 14, lost: 1, reordered: 2, unexpected: 3 });
  });
});

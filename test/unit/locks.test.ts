import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Locks } from '../../server/engine/locks';

test('an operation is refused Busy while another holds the key, but waits for background work', async () => {
  const locks = new Locks();
  let finishOp!: () => void;
  const op = locks.with('container:a', 'container "a"', 'restore', () => new Promise<void>((r) => (finishOp = r)));
  await assert.rejects(locks.with('container:a', 'container "a"', 'switch', async () => undefined), /busy: "restore" is still running/);
  finishOp();
  await op;

  const order: string[] = [];
  let finishCapture!: () => void;
  const capture = locks.background('container:a', 'container "a"', 'capture', () => new Promise<void>((r) => (finishCapture = r)).then(() => { order.push('capture'); }));
  assert.ok(locks.isHeld('container:a'), 'taken at once');
  const waiting = locks.with('container:a', 'container "a"', 'switch', async () => { order.push('switch'); });
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(order, [], 'the operation waits');
  finishCapture();
  await Promise.all([capture, waiting]);
  assert.deepEqual(order, ['capture', 'switch']);
  assert.equal(locks.isHeld('container:a'), false);
});

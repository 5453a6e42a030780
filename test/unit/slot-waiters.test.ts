import { SlotWaiters } from '../../src/common/slot-waiters';

test('waiters are granted in arrival order, only while a slot can be taken', async () => {
  const waiters = new SlotWaiters();
  const order: number[] = [];
  const all = [1, 2, 3].map((n) => waiters.wait().then(() => order.push(n)));
  let free = 2;
  waiters.serve(() => free-- > 0);
  await Promise.resolve();
  await Promise.resolve();
  expect(order).toEqual([1, 2]);
  expect(waiters.size).toBe(1);
  waiters.serve(() => true);
  await Promise.all(all);
  expect(order).toEqual([1, 2, 3]);
  expect(waiters.size).toBe(0);
});

test("an aborted waiter leaves the queue with its signal's reason and takes no slot", async () => {
  const waiters = new SlotWaiters();
  const gaveUp = new AbortController();
  const first = waiters.wait(gaveUp.signal);
  const second = waiters.wait();
  gaveUp.abort(new Error('worker shutting down'));
  await expect(first).rejects.toThrow('worker shutting down');
  let taken = 0;
  waiters.serve(() => taken++ < 1);
  await expect(second).resolves.toBeUndefined();
  expect(taken).toBe(1); // the slot `second` got; the aborted waiter was never offered one
  expect(waiters.size).toBe(0);
});

test('a signal already aborted is refused at once', async () => {
  const waiters = new SlotWaiters();
  await expect(waiters.wait(AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
  expect(waiters.size).toBe(0);
});

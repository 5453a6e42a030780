/** The GRIN client's backoff wait: an abort ends it at once with the abort's reason (issue 25 item 8). */
import { sleep } from '../../src/grin/http';
import { GrinAbortError } from '../../src/grin/errors';

test('an abort during the wait rejects at once with the abort reason', async () => {
  const controller = new AbortController();
  const reason = new Error('cancelled by the operator');
  const waiting = sleep(60_000, controller.signal);
  controller.abort(reason);
  await expect(waiting).rejects.toBe(reason);
});

test('an abort without an Error reason rejects with GrinAbortError', async () => {
  const controller = new AbortController();
  controller.abort('no reason object');
  await expect(sleep(60_000, controller.signal)).rejects.toBeInstanceOf(GrinAbortError);
});

test('without an abort the wait resolves', async () => {
  await expect(sleep(5)).resolves.toBeUndefined();
});

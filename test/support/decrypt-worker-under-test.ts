/**
 * A decryption thread for tests (see decrypt-thread-under-test.ts): the product's decrypt-worker,
 * plus a control port of the test's own, so the product's messages stay the product's.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { ThreadControl } from './decrypt-thread-under-test';
import '../../src/archive/decrypt-worker';

const control = (workerData as { control: MessagePort }).control;
control.on('message', (m: ThreadControl) => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.freezeMs);
});
// The thread's life is the product's to decide (it ends idle threads); the port does not hold it.
control.unref();

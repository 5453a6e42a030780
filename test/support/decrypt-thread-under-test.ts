/**
 * The decryption threads of processes run from TypeScript source (jest, and the test's child
 * processes through their require hook): the product looks for a compiled decrypt-worker.js, which
 * the sources do not have, so the threads run test/support/decrypt-worker-under-test.ts instead,
 * compiled on load. Each thread also gets a control port, through which a test can freeze it.
 */
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { setDecryptWorkerFactory } from '../../src/archive/decrypt-thread';
import { TS_REQUIRE_HOOK } from './ts-hook';

const ENTRY = join(__dirname, 'decrypt-worker-under-test.ts');
const BOOTSTRAP = `${TS_REQUIRE_HOOK}\nrequire(require('node:worker_threads').workerData.entry);\n`;

/** What a test can tell a thread through its control port. */
export interface ThreadControl {
  /** Block the thread's event loop for this many ms, as a wedged thread's would be. */
  freezeMs: number;
}

const controls = new Set<MessagePort>();

/** Every decryption thread this process starts from now on is one of the tests' threads. */
export function useDecryptWorkerUnderTest(): void {
  setDecryptWorkerFactory(() => {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { entry: ENTRY, control: port2 }, transferList: [port2] });
    port1.unref();
    controls.add(port1);
    worker.once('exit', () => {
      controls.delete(port1);
      port1.close();
    });
    return worker;
  });
}

/** Blocks the event loop of every running decryption thread for `ms`, as a stuck thread's would be. */
export function freezeDecryptThreads(ms: number): void {
  const message: ThreadControl = { freezeMs: ms };
  for (const control of controls) control.postMessage(message);
}

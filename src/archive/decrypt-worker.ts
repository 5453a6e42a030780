/**
 * The decryption thread (started by decrypt-thread.ts, never imported by other modules): runs
 * openDecryptedStreamInThread for each job it is given and posts the plaintext back in batches, or,
 * for decryptFile, writes it to the destination file itself.
 *
 * Plaintext is copied into a fresh batch buffer before it is transferred: openpgp.js may still read
 * the chunks it handed out (its MDC hash reads a tee of the same data), so they must not be detached.
 * At most WINDOW batches per job are unacknowledged; the main thread acknowledges a batch once its
 * consumer has taken it, and reading of the encrypted file is held to READ_AHEAD beyond what was
 * taken (see inputGate), so a slow consumer stops the decryption instead of filling memory.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { parentPort } from 'node:worker_threads';
import { openDecryptedStreamInThread, type InputGate } from './decrypt';
import { ArchiveUsageError } from './errors';
import { BATCH_BYTES, READ_AHEAD, READ_CHUNK_BYTES, WINDOW, type FromWorker, type SerializedError, type ToWorker } from './decrypt-thread';
import { PRIVATE_FILE_MODE } from '../common/file-modes';

interface Job {
  stream?: Readable;
  credit: number;
  wake: (() => void) | null;
  cancelled: boolean;
  /** Plaintext bytes taken from openpgp.js's output so far. */
  taken: number;
  /** True while the batch loop waits for openpgp.js's next chunk: then input must flow. */
  starving: boolean;
  openGate: (() => void) | null;
}

const port = parentPort;
if (!port) throw new ArchiveUsageError('decrypt-worker.ts must be started as a worker thread (see decrypt-thread.ts).');
const jobs = new Map<number, Job>();

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function serialize(err: unknown): SerializedError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    redownload?: unknown;
  };
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : String(err),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(e.redownload === true ? { redownload: true } : {}),
  };
}

async function waitForCredit(job: Job): Promise<void> {
  while (job.credit === 0 && !job.cancelled) await new Promise<void>((resolve) => (job.wake = resolve));
}

/**
 * Lets openpgp.js read at most READ_AHEAD encrypted bytes beyond the plaintext taken from it, unless
 * the batch loop is waiting for output: then more input is what openpgp.js needs (a decompressor
 * may need a whole block first), and nothing is queued on the output side.
 */
function inputGate(job: Job): InputGate {
  const mayRead = (readBytes: number): boolean => job.cancelled || job.starving || readBytes - job.taken <= READ_AHEAD;
  return (readBytes) => {
    if (mayRead(readBytes)) return undefined;
    return new Promise<void>((resolve) => {
      job.openGate = () => {
        if (!mayRead(readBytes)) return;
        job.openGate = null;
        resolve();
      };
    });
  };
}

function nudgeGate(job: Job): void {
  job.openGate?.();
}

/** Where a job's plaintext goes: `take` resolves when the sink wants more (its back-pressure). */
interface Sink {
  take(chunk: Uint8Array): Promise<void>;
  finish(): Promise<void>;
}

/** To the main thread in batches, each waiting for a credit (the window). */
function batchSender(id: number, job: Job): Sink {
  // Not zero-filled (every byte sent is written first); its own ArrayBuffer, so it can be transferred.
  const newBatch = (): Uint8Array<ArrayBuffer> => {
    const b = Buffer.allocUnsafeSlow(BATCH_BYTES);
    return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length);
  };
  let batch = newBatch();
  let filled = 0;
  const send = async (): Promise<void> => {
    await waitForCredit(job);
    if (job.cancelled) return;
    job.credit--;
    post({ type: 'data', id, buffer: batch.buffer, length: filled }, [batch.buffer]);
    batch = newBatch();
    filled = 0;
  };
  return {
    async take(chunk) {
      for (let at = 0; at < chunk.length && !job.cancelled;) {
        const n = Math.min(chunk.length - at, BATCH_BYTES - filled);
        batch.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === BATCH_BYTES) await send();
      }
    },
    async finish() {
      if (filled > 0) await send();
    },
  };
}

/** decryptFile's job: straight to the file, so the plaintext never crosses threads. */
function fileWriter(dest: string): Sink & { out: WriteStream } {
  const out = createWriteStream(dest, { highWaterMark: BATCH_BYTES, mode: PRIVATE_FILE_MODE });
  const done = finished(out);
  done.catch(() => undefined); // observed by finish(); a write error also shows in take()
  return {
    out,
    async take(chunk) {
      if (out.destroyed) await done;
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), done]);
    },
    async finish() {
      out.end();
      await done;
    },
  };
}

async function run(id: number, start: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  // starving until the loop below runs: openpgp.js reads what it needs to hand out its stream freely.
  const job: Job = { credit: WINDOW, wake: null, cancelled: false, taken: 0, starving: true, openGate: null };
  jobs.set(id, job);
  let file: (Sink & { out: WriteStream }) | undefined;
  try {
    const decrypted = await openDecryptedStreamInThread(
      start.src,
      start.passphrase,
      {
        maxBytes: start.maxBytes,
        onProgress: start.progress ? (bytes) => post({ type: 'progress', id, bytes }) : undefined,
      },
      { inputGate: inputGate(job), readChunkBytes: READ_CHUNK_BYTES },
    );
    job.stream = decrypted.stream;
    if (job.cancelled) {
      decrypted.stream.destroy();
      return;
    }
    post({ type: 'ready', id });
    if (start.dest !== undefined) file = fileWriter(start.dest);
    const sink = file ?? batchSender(id, job);

    const chunks = (decrypted.stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    for (;;) {
      job.starving = true;
      nudgeGate(job);
      const next = await chunks.next();
      job.starving = false;
      if (next.done) break;
      job.taken += next.value.length;
      nudgeGate(job);
      await sink.take(next.value);
      if (job.cancelled) return;
    }
    await sink.finish();
    if (!job.cancelled) post({ type: 'end', id, bytes: decrypted.bytes() });
  } catch (err) {
    job.stream?.destroy(); // stops reading the encrypted file
    if (file) {
      file.out.destroy();
      await rm(start.dest!, { force: true });
    }
    if (!job.cancelled) post({ type: 'error', id, error: serialize(err) });
  } finally {
    jobs.delete(id);
  }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'start') {
    void run(message.id, message);
    return;
  }
  const job = jobs.get(message.id);
  if (!job) return;
  if (message.type === 'ack') {
    job.credit += message.batches;
  } else {
    job.cancelled = true;
    job.stream?.destroy();
    nudgeGate(job);
  }
  job.wake?.();
  job.wake = null;
});

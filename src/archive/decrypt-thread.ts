/**
 * Decryption in a worker thread, for openDecryptedStream: openpgp.js's cipher, MDC hash and copies
 * take about as much CPU as everything done with the plaintext, so running them on a second core
 * lets the two overlap, as `gpg --decrypt | tar -xz` does with two processes.
 *
 * One small pool of threads per process (size: cores - 1, at least 1, at most MAX_THREADS) serves
 * every decryption; each thread runs several jobs at once (they are I/O-interleaved streams), so
 * four books at once do not load openpgp.js four more times. Threads do not keep the process alive
 * and end after IDLE_MS without work.
 *
 * The worker script is `decrypt-worker.js` next to this file when compiled; when running from
 * TypeScript source (jest with @swc/jest) there is no .js, and a small bootstrap compiles the .ts
 * files on load with @swc/core (a dev dependency, present wherever the sources are run).
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { DecryptOptions, DecryptedStream } from './decrypt';
import { ArchiveLimitError, DecryptError } from './errors';

/** Plaintext bytes per message from the thread. */
export const BATCH_BYTES = 1024 * 1024;
/** Unacknowledged batches per job: bounds what one decryption holds in messages and buffers. */
export const WINDOW = 4;
/** Encrypted bytes the thread may read beyond the plaintext it has passed on (see decrypt-worker.ts). */
export const READ_AHEAD = 4 * 1024 * 1024;
/**
 * Reads of the encrypted file in the thread. Smaller than in-thread decryption's 1 MiB: openpgp.js
 * copies every chunk several times, and with a second thread allocating, 1 MiB chunks left four
 * concurrent books at ~330–360 MiB peak RSS against ~220–250 MiB with 256 KiB (measured; the
 * allocator reuses the smaller blocks), at no measurable cost in time.
 */
export const READ_CHUNK_BYTES = 256 * 1024;
const MAX_THREADS = 4;
const IDLE_MS = 30_000;

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  /** PipelineError's flag, for a DecryptError about damaged data. */
  redownload?: boolean;
}

export type ToWorker =
  | {
      type: 'start';
      id: number;
      src: string;
      passphrase: string;
      maxBytes?: number;
      progress: boolean;
      /** Write the plaintext to this file in the thread instead of sending it (decryptFile). */
      dest?: string;
    }
  | { type: 'ack'; id: number; batches: number }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'ready'; id: number }
  | { type: 'progress'; id: number; bytes: number }
  | { type: 'data'; id: number; buffer: ArrayBuffer; length: number }
  | { type: 'end'; id: number; bytes: number }
  | { type: 'error'; id: number; error: SerializedError };

type WorkerScript = { kind: 'js'; file: string } | { kind: 'ts'; file: string };

let script: WorkerScript | null | undefined;

/** Compiles `.ts` files on require with @swc/core, then loads the worker entry (run with eval: true). */
const TS_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const { createRequire } = require('node:module');
const { readFileSync } = require('node:fs');
const swc = createRequire(workerData.entry)('@swc/core');
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(readFileSync(filename, 'utf8'), {
    filename,
    module: { type: 'commonjs' },
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
require(workerData.entry);
`;

function findWorkerScript(): WorkerScript | null {
  const js = join(__dirname, 'decrypt-worker.js');
  if (existsSync(js)) return { kind: 'js', file: js };
  const ts = join(__dirname, 'decrypt-worker.ts');
  if (!existsSync(ts)) return null;
  try {
    require.resolve('@swc/core', { paths: [__dirname] });
  } catch {
    return null;
  }
  return { kind: 'ts', file: ts };
}

/** False when no worker script can be run here; openDecryptedStream then decrypts in-thread. */
export function workerAvailable(): boolean {
  if (script === undefined) script = findWorkerScript();
  return script !== null;
}

/** The main thread's side of one job. */
interface JobHandlers {
  onReady(): void;
  onProgress(bytes: number): void;
  onData(chunk: Buffer): void;
  onEnd(bytes: number): void;
  onError(err: Error): void;
}

class DecryptThread {
  readonly jobs = new Map<number, JobHandlers>();
  private readonly worker: Worker;
  private idleTimer: NodeJS.Timeout | null = null;
  private dead = false;

  constructor(private readonly onGone: (t: DecryptThread) => void) {
    const s = script!;
    this.worker =
      s.kind === 'js'
        ? new Worker(s.file)
        : new Worker(TS_BOOTSTRAP, { eval: true, workerData: { entry: s.file } });
    this.worker.on('message', (m: FromWorker) => this.dispatch(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`it exited with code ${code}`)));
    this.worker.unref();
  }

  post(message: ToWorker): void {
    if (!this.dead) this.worker.postMessage(message);
  }

  add(id: number, handlers: JobHandlers): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.jobs.size === 0) this.worker.ref(); // a running decryption keeps the process alive
    this.jobs.set(id, handlers);
  }

  remove(id: number): void {
    if (!this.jobs.delete(id) || this.jobs.size > 0 || this.dead) return;
    this.worker.unref();
    this.idleTimer = setTimeout(() => {
      this.dead = true;
      this.onGone(this);
      void this.worker.terminate();
    }, IDLE_MS);
    this.idleTimer.unref();
  }

  private dispatch(m: FromWorker): void {
    const job = this.jobs.get(m.id);
    if (!job) return;
    switch (m.type) {
      case 'ready':
        return job.onReady();
      case 'progress':
        return job.onProgress(m.bytes);
      case 'data':
        return job.onData(Buffer.from(m.buffer, 0, m.length));
      case 'end':
        return job.onEnd(m.bytes);
      case 'error':
        return job.onError(revive(m.error));
    }
  }

  /** The thread crashed or stopped: every job it had fails, and the pool forgets it. */
  private fail(cause: Error): void {
    if (this.dead && this.jobs.size === 0) return;
    this.dead = true;
    this.onGone(this);
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.onError(new Error(`The decryption thread stopped unexpectedly (${cause.message}).`, { cause }));
  }
}

/** Errors cross the thread boundary as plain data; ours become our classes again. */
function revive(e: SerializedError): Error {
  if (e.name === 'DecryptError') return new DecryptError(e.message, { damaged: e.redownload === true });
  if (e.name === 'ArchiveLimitError') return new ArchiveLimitError(e.message);
  const err = new Error(e.message) as Error & { code?: string };
  if (e.name !== 'Error') err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

const pool: DecryptThread[] = [];
let nextId = 1;

function poolSize(): number {
  return Math.max(1, Math.min(MAX_THREADS, availableParallelism() - 1));
}

/** The least busy thread, starting another while the pool is not full and all are busy. */
function pickThread(): DecryptThread {
  const idle = pool.find((t) => t.jobs.size === 0);
  if (idle) return idle;
  if (pool.length < poolSize()) {
    const t = new DecryptThread((gone) => {
      const i = pool.indexOf(gone);
      if (i >= 0) pool.splice(i, 1);
    });
    pool.push(t);
    return t;
  }
  return pool.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
}

/**
 * decryptFile in a worker thread: the thread writes `dest` itself, so the plaintext never crosses
 * threads (no copies, no garbage in this thread). On failure `dest` is deleted, as decryptFile does.
 */
export async function decryptFileInWorker(src: string, dest: string, passphrase: string, opts: DecryptOptions = {}): Promise<{ bytes: number }> {
  if (!workerAvailable()) throw new Error(`Cannot start a decryption thread: ${join(__dirname, 'decrypt-worker.js')} is missing.`);
  const thread = pickThread();
  const id = nextId++;
  try {
    return await new Promise<{ bytes: number }>((resolve, reject) => {
      thread.add(id, {
        onReady: () => undefined,
        onProgress: (bytes) => opts.onProgress?.(bytes),
        onData: () => undefined,
        onEnd(bytes) {
          thread.remove(id);
          resolve({ bytes });
        },
        onError(err) {
          thread.remove(id);
          reject(err);
        },
      });
      thread.post({ type: 'start', id, src, passphrase, maxBytes: opts.maxBytes, progress: opts.onProgress !== undefined, dest });
    });
  } catch (err) {
    await rm(dest, { force: true }); // the thread removes it too, unless the thread itself died
    throw err;
  }
}

/** openDecryptedStream in a worker thread: same contract, same errors. */
export function openDecryptedStreamInWorker(src: string, passphrase: string, opts: DecryptOptions = {}): Promise<DecryptedStream> {
  if (!workerAvailable()) throw new Error(`Cannot start a decryption thread: ${join(__dirname, 'decrypt-worker.js')} is missing.`);
  const thread = pickThread();
  const id = nextId++;
  let bytesOut = 0;
  let ended = false;
  let unacked = 0;

  const ack = (): void => {
    if (unacked === 0) return;
    thread.post({ type: 'ack', id, batches: unacked });
    unacked = 0;
  };
  const stream = new Readable({
    highWaterMark: BATCH_BYTES,
    read: ack,
    destroy(err, cb) {
      if (!ended) thread.post({ type: 'cancel', id });
      ended = true;
      thread.remove(id);
      cb(err);
    },
  });
  // The error may come before the caller has attached its pipeline; the pipeline still sees it
  // (the stream is left errored), this only keeps it from being an unhandled 'error' event.
  stream.on('error', () => undefined);

  return new Promise<DecryptedStream>((resolve, reject) => {
    let ready = false;
    thread.add(id, {
      onReady() {
        ready = true;
        resolve({ stream, bytes: () => bytesOut });
      },
      onProgress: (bytes) => opts.onProgress?.(bytes),
      onData(chunk) {
        bytesOut += chunk.length;
        unacked++;
        if (stream.push(chunk)) ack();
      },
      onEnd() {
        ended = true;
        thread.remove(id);
        stream.push(null);
      },
      onError(err) {
        ended = true;
        thread.remove(id);
        if (ready) stream.destroy(err);
        else {
          stream.destroy();
          reject(err);
        }
      },
    });
    thread.post({ type: 'start', id, src, passphrase, maxBytes: opts.maxBytes, progress: opts.onProgress !== undefined });
  });
}

/** What the pool is doing (for tests and diagnostics): threads running, jobs open, jobs ever started. */
export function decryptThreadStats(): { threads: number; activeJobs: number; jobsStarted: number } {
  return { threads: pool.length, activeJobs: pool.reduce((n, t) => n + t.jobs.size, 0), jobsStarted: nextId - 1 };
}

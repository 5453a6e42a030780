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
 * The worker script is `decrypt-worker.js` next to this file when compiled. Run from TypeScript
 * source there is no .js: whoever runs the sources (the tests) starts the threads their own way
 * through setDecryptWorkerFactory; without either, decryption stays in the calling thread.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { DecryptOptions, DecryptedStream } from './decrypt';
import { ArchiveLimitError, DecryptError, DecryptThreadError } from './errors';

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
/**
 * A job the thread has owed a message for this long (no ready, progress, data or end while it had
 * work to do) means the thread is stuck: it is stopped and all its jobs fail, a transient error
 * their activities retry on a fresh thread. Without this a stuck thread held its activities' slots
 * for good, and every retry of the book joined it (the process has one thread on two cores).
 */
export const DEFAULT_STALL_MS = 120_000;

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

/** Starts one decryption thread running decrypt-worker's code. */
export type DecryptWorkerFactory = () => Worker;

let factory: DecryptWorkerFactory | null | undefined;

function findWorkerScript(): DecryptWorkerFactory | null {
  const js = join(__dirname, 'decrypt-worker.js');
  return existsSync(js) ? () => new Worker(js) : null;
}

/**
 * Starts the pool's new threads with `create` instead of decrypt-worker.js beside this file (null:
 * that file again). Threads already running are kept.
 */
export function setDecryptWorkerFactory(create: DecryptWorkerFactory | null): void {
  factory = create ?? undefined;
}

/** False when no worker script can be run here; openDecryptedStream then decrypts in-thread. */
export function workerAvailable(): boolean {
  if (factory === undefined) factory = findWorkerScript();
  return factory !== null;
}

/** The main thread's side of one job. */
interface JobHandlers {
  /** See DEFAULT_STALL_MS. */
  stallMs: number;
  onReady(): void;
  onProgress(bytes: number): void;
  onData(chunk: Buffer): void;
  onEnd(bytes: number): void;
  onError(err: Error): void;
}

class DecryptThread {
  readonly jobs = new Map<number, JobHandlers>();
  /** Since when each job has been waiting for the thread (absent: the thread is waiting for us). */
  private readonly owedSince = new Map<number, number>();
  private readonly worker: Worker;
  private idleTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private dead = false;

  constructor(private readonly onGone: (t: DecryptThread) => void) {
    this.worker = factory!();
    this.worker.on('message', (m: FromWorker) => this.dispatch(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new DecryptThreadError(`it exited with code ${code}`)));
    this.worker.unref();
  }

  post(message: ToWorker): void {
    if (!this.dead) this.worker.postMessage(message);
  }

  /** The job now waits for the thread (started, or its consumer asked for more). */
  owe(id: number): void {
    if (this.jobs.has(id) && !this.owedSince.has(id)) this.owedSince.set(id, Date.now());
  }

  /** The thread answered for the job: the clock starts again when the job next waits. */
  private settle(id: number): void {
    this.owedSince.delete(id);
  }

  add(id: number, handlers: JobHandlers): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.jobs.size === 0) this.worker.ref(); // a running decryption keeps the process alive
    this.jobs.set(id, handlers);
    this.owe(id);
    this.watchdog ??= setInterval(() => this.checkStalls(), Math.min(5_000, Math.max(50, handlers.stallMs / 4)));
    this.watchdog.unref();
  }

  private checkStalls(): void {
    const now = Date.now();
    for (const [id, since] of this.owedSince) {
      const job = this.jobs.get(id);
      if (!job || now - since < job.stallMs) continue;
      this.fail(
        new DecryptThreadError(
          `it made no progress for ${Math.round((now - since) / 1000)} s and was stopped; the work is retried on a new thread`,
        ),
      );
      void this.worker.terminate();
      return;
    }
  }

  private stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  remove(id: number): void {
    this.owedSince.delete(id);
    if (!this.jobs.delete(id) || this.jobs.size > 0 || this.dead) return;
    this.stopWatchdog();
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
        this.settle(m.id);
        return job.onReady();
      case 'progress':
        // Reading input is progress; the job still waits for output, so the clock restarts.
        this.settle(m.id);
        this.owe(m.id);
        return job.onProgress(m.bytes);
      case 'data':
        this.settle(m.id);
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
    this.stopWatchdog();
    this.onGone(this);
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    this.owedSince.clear();
    for (const job of jobs)
      job.onError(new DecryptThreadError(`The decryption thread stopped unexpectedly (${cause.message}).`, { cause }));
  }
}

/** Errors cross the thread boundary as plain data; ours become our classes again. */
function revive(e: SerializedError): Error {
  if (e.name === 'DecryptError') return new DecryptError(e.message, { damaged: e.redownload === true });
  if (e.name === 'ArchiveLimitError') return new ArchiveLimitError(e.message);
  // Anything else is no verdict on the archive (a full disk, a bug): transient, as such errors are outside the thread.
  return new DecryptThreadError(e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message, { code: e.code });
}

/** The thread's script is not installed: no archive is at fault, books wait for a complete install. */
function threadMissing(): DecryptThreadError {
  const file = join(__dirname, 'decrypt-worker.js');
  return new DecryptThreadError(
    `Cannot start a decryption thread: ${file} is missing; rebuild or reinstall grin-pipeline (npm run build).`,
    {
      waitingFor: `a complete install (${file})`,
    },
  );
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
export async function decryptFileInWorker(
  src: string,
  dest: string,
  passphrase: string,
  opts: DecryptOptions = {},
): Promise<{ bytes: number }> {
  if (!workerAvailable()) throw threadMissing();
  const thread = pickThread();
  const id = nextId++;
  try {
    return await new Promise<{ bytes: number }>((resolve, reject) => {
      thread.add(id, {
        stallMs: opts.stallMs ?? DEFAULT_STALL_MS,
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
      // Progress always: it is also how the watchdog knows the thread is alive.
      thread.post({ type: 'start', id, src, passphrase, maxBytes: opts.maxBytes, progress: true, dest });
    });
  } catch (err) {
    await rm(dest, { force: true }); // the thread removes it too, unless the thread itself died
    throw err;
  }
}

/** openDecryptedStream in a worker thread: same contract, same errors. */
export function openDecryptedStreamInWorker(src: string, passphrase: string, opts: DecryptOptions = {}): Promise<DecryptedStream> {
  if (!workerAvailable()) throw threadMissing();
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
    read() {
      ack();
      if (!ended) thread.owe(id); // the consumer wants more: now it is the thread's turn
    },
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
      stallMs: opts.stallMs ?? DEFAULT_STALL_MS,
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
    thread.post({ type: 'start', id, src, passphrase, maxBytes: opts.maxBytes, progress: true });
  });
}

/** What the pool is doing (for tests and diagnostics): threads running, jobs open, jobs ever started. */
export function decryptThreadStats(): { threads: number; activeJobs: number; jobsStarted: number } {
  return { threads: pool.length, activeJobs: pool.reduce((n, t) => n + t.jobs.size, 0), jobsStarted: nextId - 1 };
}

/**
 * Preloaded (`node --require`) into every thread of a profiled `bench:cost --breakdown` process:
 * records which kernel thread runs which Node thread, so the per-thread CPU from /proc can be set
 * beside that thread's .cpuprofile (Node names none of its threads). The main thread also records
 * the threads that exist before any code runs: V8's platform threads (GC helpers, compilers), as
 * libuv's pool starts only on first use.
 */
import { existsSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';

export const THREAD_TAGS_ENV = 'GRIN_BENCH_THREAD_TAGS';

export interface ThreadTag {
  pid: number;
  /** Node's thread id: 0 the main thread; the number in the .cpuprofile's file name. */
  threadId: number;
  /** The kernel's thread id (/proc/<pid>/task/<tid>). */
  tid: number;
  /** Main thread only: every thread of the process when the preload ran. */
  startupThreads?: number[];
}

const dir = process.env[THREAD_TAGS_ENV];
const file = dir && join(dir, `tag-${process.pid}-${threadId}.json`);
// Once per thread: the bench imports this module again for the name above, later than the preload.
if (file && !existsSync(file)) {
  try {
    const tag: ThreadTag = {
      pid: process.pid,
      threadId,
      tid: Number(readlinkSync('/proc/thread-self').split('/').pop()),
      ...(isMainThread ? { startupThreads: readdirSync('/proc/self/task').map(Number) } : {}),
    };
    writeFileSync(file, JSON.stringify(tag));
  } catch {
    // Not Linux: the breakdown then has no per-thread /proc figures to compare with.
  }
}

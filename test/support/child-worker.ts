/**
 * Runs test/support/file-host-worker.ts as a real child process (so it can die by SIGKILL, exactly
 * like a worker killed on a real host) and restarts it whenever it dies, until stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PipelineConfig } from '../../src/config/types';
import { TS_REQUIRE_HOOK } from './ts-hook';

/**
 * The child's require hook: .ts compiled with swc, and in the main thread decryption threads as the
 * tests run them (there is no compiled decrypt-worker.js to start).
 */
const CHILD_HOOK = `${TS_REQUIRE_HOOK}
if (require('node:worker_threads').isMainThread) {
  require(${JSON.stringify(join(__dirname, 'decrypt-thread-under-test.ts'))}).useDecryptWorkerUnderTest();
}
`;

/** Writes the require hook into `dir` and returns its path, for `node -r <hook> some-file.ts`. */
export function writeTsHook(dir: string): string {
  const hook = join(dir, 'ts-hook.cjs');
  writeFileSync(hook, CHILD_HOOK);
  return hook;
}

export interface SupervisedWorker {
  /** Times the worker process died other than by `stop()`. */
  deaths(): number;
  /** Stops the current process (SIGTERM: graceful) and does not restart it. */
  stop(): Promise<void>;
}

/**
 * Starts the file-host worker for `hostId` and restarts it after every death. `beforeRestart` runs
 * while no worker is alive (a test may change files then, as if an operator had).
 */
export function superviseFileHostWorker(opts: {
  config: PipelineConfig;
  hostId: string;
  dir: string;
  env?: Record<string, string>;
  beforeRestart?: () => Promise<void> | void;
  /** Another worker script (default: test/support/file-host-worker.ts) and its arguments after the config file and host id. */
  script?: string;
  args?: string[];
}): SupervisedWorker {
  const root = resolve(__dirname, '../..');
  const hook = writeTsHook(opts.dir);
  const configFile = join(opts.dir, 'worker-config.json');
  writeFileSync(configFile, JSON.stringify(opts.config));
  let stopping = false;
  let died = 0;
  let current: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = () => {
    const script = opts.script ?? join(root, 'test/support/file-host-worker.ts');
    const child = spawn(process.execPath, ['-r', hook, script, configFile, opts.hostId, ...(opts.args ?? [])], {
      cwd: root,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    current = child;
    exited = new Promise<void>((done) => {
      child.once('exit', () => {
        if (stopping) return done();
        died++;
        void (async () => {
          await opts.beforeRestart?.();
          if (!stopping) start();
          done();
        })();
      });
    });
  };
  start();

  return {
    deaths: () => died,
    async stop() {
      stopping = true;
      for (;;) {
        const waiting = exited;
        const child = current;
        child?.kill('SIGTERM');
        const hard = setTimeout(() => child?.kill('SIGKILL'), 15_000);
        await waiting;
        clearTimeout(hard);
        if (waiting === exited) return;
      }
    },
  };
}

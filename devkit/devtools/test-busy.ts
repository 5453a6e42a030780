#!/usr/bin/env node
/**
 * `npm run test:busy [-- jest args]`: runs `npm test` while busy-loop processes keep every core
 * busy, to show that the suite waits for conditions rather than for time (issue 13). Stops the load
 * however the run ends, prints the wall time and the load average seen, and exits with the suite's
 * exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, constants, loadavg } from 'node:os';

/**
 * One spinning process. It checks now and then that its parent is still there, so a load whose
 * parent was killed outright (no chance to stop it) ends by itself.
 */
const BUSY_LOOP = 'const parent = process.ppid; for (let i = 1; ; i++) if (i % 1e7 === 0 && process.ppid !== parent) process.exit(0);';

function startLoad(processes: number): ChildProcess[] {
  return Array.from({ length: processes }, () => spawn(process.execPath, ['-e', BUSY_LOOP], { stdio: 'ignore' }));
}

function stopLoad(load: ChildProcess[]): void {
  for (const child of load) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** `npm test` with the given extra arguments, through the npm that runs this script when there is one. */
function startTests(args: string[]): ChildProcess {
  const npmArgs = ['test', ...(args.length ? ['--', ...args] : [])];
  const npmCli = process.env.npm_execpath;
  return npmCli && /\.[cm]?js$/.test(npmCli)
    ? spawn(process.execPath, [npmCli, ...npmArgs], { stdio: 'inherit' })
    : spawn('npm', npmArgs, { stdio: 'inherit' });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      'Usage: npm run test:busy [-- <jest arguments>]\n' +
        'Runs `npm test` (with the given jest arguments, e.g. a test file) while one busy-loop process per\n' +
        'core, plus one, keeps the machine busy; prints the wall time and load average; exits with the\n' +
        "suite's exit code.\n",
    );
    return 0;
  }
  const cores = availableParallelism();
  const load = startLoad(cores + 1);
  // Stops the load on any exit, also an unexpected one.
  process.on('exit', () => stopLoad(load));
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(loadavg()[0]), 5_000);
  process.stderr.write(`test:busy: ${load.length} busy loops on ${cores} cores; running npm test ${args.join(' ')}\n`);

  const started = Date.now();
  const tests = startTests(args);
  // Ctrl-C reaches the tests too (same process group); wait for them to stop cleanly, then report.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopLoad(load);
      tests.kill(signal);
    });
  }
  const code = await new Promise<number>((resolve) => {
    tests.once('error', (err) => {
      process.stderr.write(`test:busy: could not start npm test: ${err.message}\n`);
      resolve(1);
    });
    tests.once('exit', (exitCode, signal) => resolve(exitCode ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  clearInterval(sampler);
  stopLoad(load);

  const seconds = (Date.now() - started) / 1000;
  samples.push(loadavg()[0]);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  process.stderr.write(
    `test:busy: npm test exited with code ${code} after ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s; ` +
      `load average (1 min) while it ran: mean ${mean.toFixed(1)}, max ${Math.max(...samples).toFixed(1)} on ${cores} cores\n`,
  );
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`test:busy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

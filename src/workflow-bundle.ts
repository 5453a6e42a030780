/**
 * The workflow code bundle, made in a short-lived child process rather than in the worker.
 *
 * Why (issue 23): the SDK bundles the workflows with webpack when a worker is created from a
 * `workflowsPath`. Done in the worker's own process, webpack's modules and heap stay behind for the
 * worker's lifetime: ~65 MiB of RSS measured (253 MiB after creating the workers, 188 MiB with the
 * bundle made elsewhere), more than five books in flight need. The bundle is made fresh at every
 * start from the same code, as before, so it can never be older than the workflows it runs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { WorkflowBundle } from '@temporalio/worker';

const run = promisify(execFile);

/** Runs in the child: bundles argv[1] with the SDK found at argv[2] and writes the code to stdout. */
const CHILD = `
const [workflowsPath, sdk] = process.argv.slice(1);
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn(m) { process.stderr.write(String(m) + '\\n'); }, error(m) { process.stderr.write(String(m) + '\\n'); } };
require(sdk).bundleWorkflowCode({ workflowsPath, logger: quiet }).then(
  (b) => process.stdout.write(b.code),
  (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); },
);
`;

export class WorkflowBundleError extends Error {}

/** The bundle of the workflows at `workflowsPath`, made by a child Node process (same binary, same flags). */
export async function bundleWorkflowsInChild(workflowsPath: string): Promise<WorkflowBundle> {
  const sdk = require.resolve('@temporalio/worker');
  try {
    const { stdout } = await run(
      process.execPath,
      [...process.execArgv.filter((a) => !a.startsWith('--inspect')), '-e', CHILD, workflowsPath, sdk],
      {
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'utf8',
      },
    );
    return { code: stdout };
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new WorkflowBundleError(
      `Could not bundle the workflow code (${workflowsPath}): ${(e.stderr || e.message || String(err)).trim().slice(0, 2000)}`,
    );
  }
}

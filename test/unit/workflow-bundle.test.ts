/**
 * The worker's workflow bundle is made in a child process (issue 23: webpack in the worker's own
 * process kept ~65 MiB of its memory). The child's bundle must be a real one: a replay of a recorded
 * book history runs on it. A bundle that cannot be made says which workflows and why.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { bundleWorkflowsInChild, WorkflowBundleError } from '../../src/workflow-bundle';
import { HISTORIES_DIR, readHistory } from '../support/replay';

test('the bundle made in a child process replays a recorded book history', async () => {
  const bundle = await bundleWorkflowsInChild(require.resolve('../../src/workflows'));
  expect(bundle).toHaveProperty('code');
  const file = readdirSync(HISTORIES_DIR).find((f) => f.startsWith('book') && f.endsWith('.json'));
  expect(file).toBeDefined();
  await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, readHistory(join(HISTORIES_DIR, file!)), file);
}, 120_000);

test("workflows that cannot be bundled fail with the path and the bundler's reason", async () => {
  const missing = join(__dirname, 'no-such-workflows.ts');
  const err = await bundleWorkflowsInChild(missing).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowBundleError);
  expect((err as Error).message).toContain(missing);
}, 120_000);

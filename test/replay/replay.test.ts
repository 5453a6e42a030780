/**
 * Replay safety: every recorded history under test/replay/histories/ (real runs, captured by
 * `npm run replay:capture`) must replay against the current workflow code without a
 * nondeterminism error. A change to src/workflows/** that would break books running today fails
 * here; put it behind `patched()` (see docs/workflow-changes.md).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR, readHistory } from '../support/replay';
import { workflowBundle } from '../support/pipeline';

jest.setTimeout(120_000);

/** Every fixture, in the current generation (top level) and in older ones kept in sub-folders. */
const files = (readdirSync(HISTORIES_DIR, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort();

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(6);
});

test.each(files)('%s replays against the current workflow code', async (file) => {
  const history = readHistory(join(HISTORIES_DIR, file));
  const results: { workflowId: string; error?: unknown }[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: file }, [
    { workflowId: file, history },
  ])) {
    results.push(result);
  }
  expect(results.map((r) => ({ workflowId: r.workflowId, error: r.error ? String(r.error) : undefined }))).toEqual([
    { workflowId: file, error: undefined },
  ]);
});

/**
 * Replay fixtures: histories of real runs, saved by integration tests and by test/replay/capture.test.ts
 * when `GRIN_REPLAY_CAPTURE=1` (`npm run replay:capture`), and replayed by test/replay/replay.test.ts
 * against the current workflow code. Elsewhere saving is a no-op, so ordinary test runs never
 * rewrite the committed fixtures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = join(__dirname, '..', 'replay', 'histories');

export function capturing(): boolean {
  return process.env.GRIN_REPLAY_CAPTURE === '1';
}

/** Saves the history of `workflowId` (its latest run, or `runId`) as `<name>.json`, when capturing. */
export async function saveHistory(client: Client, workflowId: string, name: string, runId?: string): Promise<void> {
  if (!capturing()) return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToJSON(history) + '\n');
}

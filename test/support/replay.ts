/**
 * Replay fixtures: histories of real runs, saved by integration tests and by test/replay/capture.test.ts
 * when `GRIN_REPLAY_CAPTURE=1` (`npm run replay:capture`), and replayed by test/replay/replay.test.ts
 * against the current workflow code. Elsewhere saving is a no-op, so ordinary test runs never
 * rewrite the committed fixtures.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export const HISTORIES_DIR = join(__dirname, '..', 'replay', 'histories');

/**
 * Proto JSON of histories (the format `temporal workflow show --output json` writes). The SDK's own
 * `historyToJSON`/`historyFromJSON` use the protobufjs copy nested under @temporalio/common, which in
 * this install is not the copy @temporalio/proto's types were built with ("type must be a Type"),
 * so the converter is taken from the copy @temporalio/proto uses.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const protojson = require(require.resolve('protobufjs/ext/protojson', { paths: [dirname(require.resolve('@temporalio/proto'))] })) as {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
};
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

export function historyToJson(history: History): string {
  return JSON.stringify(protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
}

export function readHistory(file: string): History {
  return protojson.fromJson(historyType, JSON.parse(readFileSync(file, 'utf8')), { ignoreUnknownFields: true }) as History;
}

export function capturing(): boolean {
  return process.env.GRIN_REPLAY_CAPTURE === '1';
}

/** Saves the history of `workflowId` (its latest run, or `runId`) as `<name>.json`, when capturing. */
export async function saveHistory(client: Client, workflowId: string, name: string, runId?: string): Promise<void> {
  if (!capturing()) return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToJson(history) + '\n');
}

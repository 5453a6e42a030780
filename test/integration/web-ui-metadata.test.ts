/**
 * What an operator sees in the Temporal Web UI, read back through the Temporal client on a real dev
 * server: each book's and batch's fixed summary and details, the book's current details (for a parked
 * book: the reason and what to do), per-activity summaries, the described signals and queries, and
 * the list's search attributes (a parked book's `GrinParkReason`, gone once it is retried).
 */
import { writeFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId, cancelSignal, retrySignal } from '../../src/workflows/contracts';
import { parkReasonText } from '../../src/workflows/metadata';
import { GrinParkReason, GrinStage } from '../../src/workflows/search-attributes';
import { useSimulatedPipeline, temporalClient } from '../support/pipeline';
import { waitUntil } from '../support/wait';

jest.setTimeout(600_000);

const ctx = useSimulatedPipeline('webui', {
  books: 6,
  seed: 11,
  initialState: 'all-available',
  conversionDelaySeconds: 1,
  pages: { min: 2, max: 3 },
  pageImageBytes: 4 * 1024,
});

type Metadata = temporal.api.sdk.v1.IWorkflowMetadata;
const METADATA_QUERY = '__temporal_workflow_metadata';

/** The books the Web UI's list shows for a visibility query, with their GrinStage and GrinParkReason (visibility lags: waits for `expected` rows). */
async function listed(client: Client, query: string, expected: number): Promise<{ id: string; stage?: string; reason?: string }[]> {
  let rows: { id: string; stage?: string; reason?: string }[] = [];
  await waitUntil(
    async () => {
      rows = [];
      for await (const w of client.workflow.list({ query })) {
        rows.push({ id: w.workflowId, stage: w.typedSearchAttributes.get(GrinStage), reason: w.typedSearchAttributes.get(GrinParkReason) });
      }
      return rows.length === expected;
    },
    60_000,
    `${expected} workflow(s) listed for ${query}`,
  );
  return rows;
}

test('a stored book and its batch carry a summary, details, activity summaries and described handlers', async () => {
  const client = await temporalClient();
  const { sim, env } = ctx;
  const barcode = sim.barcodes[0];
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
  const batch = await startBatch(client, env.config, [barcode], { batchId: 'webui-ok', settings });
  expect(await batch.result()).toMatchObject({ stored: 1 });

  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  const described = await book.describe();
  const summary = await described.staticSummary();
  expect(summary).toContain(barcode);
  expect(summary).toContain(sim.directory);
  expect(summary).toContain('webui-ok');
  expect(await described.staticDetails()).toContain('`retry`');

  const batchDescribed = await batch.describe();
  expect(await batchDescribed.staticSummary()).toBe(`Batch webui-ok: 1 book(s) of ${sim.directory}`);

  // The finished book's last details say it is stored; the batch's say its counts.
  const meta = await book.query<Metadata>(METADATA_QUERY);
  expect(meta.currentDetails).toMatch(/^\*\*stored\*\*/);
  const batchMeta = await batch.query<Metadata>(METADATA_QUERY);
  expect(batchMeta.currentDetails).toContain('**1/1** settled: 1 stored');

  // Signals and queries explain themselves to whoever opens "Send a Signal".
  const signals = Object.fromEntries((meta.definition?.signalDefinitions ?? []).map((d) => [d.name, d.description]));
  expect(signals.retry).toMatch(/re-run the stage/);
  expect(signals.cancel).toMatch(/reason/);
  const queries = (meta.definition?.queryDefinitions ?? []).map((d) => d.name);
  expect(queries).toContain('status');

  // Every stage's activity row has a summary naming the book and what it does.
  const history = await book.fetchHistory();
  const summaries = (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => e.userMetadata?.summary?.data)
    .map((d) => (d ? (JSON.parse(Buffer.from(d).toString('utf8')) as string) : undefined));
  expect(summaries).toEqual(expect.arrayContaining([`${barcode}: decrypt`, `${barcode}: upload, verify in storage, remove local files`]));

  // No secret in anything the Web UI shows.
  const shown = JSON.stringify([summary, await described.staticDetails(), meta, batchMeta, summaries]);
  for (const secret of [sim.passphrase, 'sim-token']) expect(shown).not.toContain(secret);
});

test("a parked book's current details give the reason and what to do", async () => {
  const client = await temporalClient();
  const { sim, env } = ctx;
  const barcode = sim.barcodes[1];
  sim.setFaults({ notGzip: { barcodes: [barcode] } });
  try {
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
    await startBatch(client, env.config, [barcode], { batchId: 'webui-park', settings });
    const board = await Board.open(env.config.pipelineDir);
    await waitUntil(async () => (await board.locate(barcode)) === 'failed', 300_000, 'book parked');
    const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
    let details = '';
    await waitUntil(
      async () => {
        details = (await book.query<Metadata>(METADATA_QUERY)).currentDetails ?? '';
        return details.startsWith('**parked**');
      },
      60_000,
      'parked details',
    );
    const reason = (await board.get(barcode))!.lastError!.message;
    expect(details).toContain(`**parked** at 04_decrypted: ${reason.replace(/\s+/g, ' ').slice(0, 100)}`);
    expect(details).toContain('**to do**: the archive is damaged at GRIN');
    expect(details).toContain('`retry`');
    expect(details).toContain('CorruptArchiveError');

    // The list shows the reason without opening the book: GrinStage = "failed" and GrinParkReason.
    const id = bookWorkflowId(sim.directory, barcode);
    const expected = parkReasonText('04_decrypted', reason, 'CorruptArchiveError');
    expect(expected).toMatch(/^CorruptArchiveError at 04_decrypted: /);
    await waitUntil(
      async () => (await listed(client, `GrinBatch = "webui-park" AND GrinStage = "failed"`, 1))[0].reason === expected,
      60_000,
      'reason listed',
    );
    expect(
      await listed(client, `GrinBatch = "webui-park" AND GrinStage = "failed" AND GrinParkReason STARTS_WITH "CorruptArchiveError"`, 1),
    ).toEqual([{ id, stage: 'failed', reason: expected }]);

    await book.signal(cancelSignal, 'test over');
    expect(await book.result()).toBe('cancelled');
    expect((await book.query<Metadata>(METADATA_QUERY)).currentDetails).toMatch(/^\*\*cancelled\*\*.*test over/);
  } finally {
    sim.setFaults({ notGzip: undefined });
  }
});

test('a parked book shows its reason in the list until a retry stores it, then the reason is gone', async () => {
  const client = await temporalClient();
  const { sim, env } = ctx;
  const barcode = sim.barcodes[2];
  const passphraseFile = env.config.grin.gpgPassphrase.file!;
  writeFileSync(passphraseFile, 'not the passphrase');
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  try {
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
    await startBatch(client, env.config, [barcode], { batchId: 'webui-retry', settings });
    const board = await Board.open(env.config.pipelineDir);
    await waitUntil(async () => (await board.locate(barcode)) === 'failed', 300_000, 'book parked');
    const [row] = await listed(client, 'GrinBatch = "webui-retry" AND GrinStage = "failed"', 1);
    expect(row.reason).toMatch(/^DecryptError at 04_decrypted: .*passphrase/i);
    expect(row.reason!.length).toBeLessThanOrEqual(160);
  } finally {
    writeFileSync(passphraseFile, sim.passphrase);
  }
  await book.signal(retrySignal);
  expect(await book.result()).toBe('stored');
  const [stored] = await listed(client, 'GrinBatch = "webui-retry" AND GrinStage = "07_stored"', 1);
  expect(stored).toEqual({ id: book.workflowId, stage: '07_stored', reason: undefined });
  expect((await book.describe()).typedSearchAttributes.get(GrinParkReason)).toBeUndefined();
});

/**
 * `start-batch` through the CLI against the real Temporal dev server and the simulator:
 * `--dry-run` says for every line what would start and what is skipped and why (already stored,
 * already running, beyond --limit, invalid, repeated) and starts nothing; `--limit` and repeated
 * lines in a real run; --json on start-batch, batch-status, status, retry, reconcile --from-temporal and resume.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { batchWorkflowId, bookWorkflowId } from '../../src/workflows/contracts';
import { runCli, writeConfigFile } from '../support/cli';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';

jest.setTimeout(600_000);

const ctx = useSimulatedPipeline('cli-batch', {
  books: 6,
  seed: 12,
  initialState: 'all-available',
  conversionDelaySeconds: 1,
  pages: { min: 1, max: 2 },
  pageImageBytes: 4096,
});
let client: Client;
let configFile: string;
let stored: string;
let running: string;
let fresh: string[];

beforeAll(async () => {
  client = await temporalClient();
  configFile = writeConfigFile(ctx.env.dir, ctx.env.config);
  [stored, running, ...fresh] = ctx.sim.barcodes;
  const settings = bookSettingsFrom(ctx.env.config, { pollIntervalSeconds: 1 });
  const batch = await startBatch(client, ctx.env.config, [stored], { batchId: 'stores-one', settings });
  expect(await batch.result()).toMatchObject({ stored: 1 });
  // A book whose workflow runs on a queue no worker polls: Temporal reports it running for ever.
  await client.workflow.start('bookWorkflow', {
    workflowId: bookWorkflowId(ctx.sim.directory, running),
    taskQueue: `nobody-polls-${Date.now()}`,
    args: [{ barcode: running, directory: ctx.sim.directory }],
  });
});

afterAll(async () => {
  await client?.workflow
    .getHandle(bookWorkflowId(ctx.sim.directory, running))
    .terminate('test over')
    .catch(() => undefined);
  await client?.connection.close();
});

test('--dry-run prints every line with what would happen and why, and starts nothing', async () => {
  const file = join(ctx.env.dir, 'dry-run.txt');
  writeFileSync(file, [stored, running, fresh[0], fresh[1], 'not a barcode', stored].join('\n') + '\n');
  const run = await runCli(['-c', configFile, 'start-batch', '--barcodes-file', file, '--limit', '3', '--batch-id', 'dry', '--dry-run']);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toEqual([
    expect.stringMatching(new RegExp(`^skip +${stored} +already stored`)),
    expect.stringMatching(new RegExp(`^skip +${running} +already running`)),
    expect.stringMatching(new RegExp(`^start +${fresh[0]} +no workflow yet`)),
    expect.stringMatching(new RegExp(`^skip +${fresh[1]} +beyond --limit 3`)),
    expect.stringMatching(/^skip +line 5: "not a barcode" +"not a barcode" is not a barcode \(must be 3 to 50 characters/),
    expect.stringMatching(new RegExp(`^skip +line 6: "${stored}" +${stored} repeats line 1`)),
  ]);
  expect(run.stderr).toContain(
    'dry run, batch dry (new: would be started): 1 would start (1 new); 5 skipped (1 already stored, 1 already running, 1 over limit, 1 invalid, 1 duplicate)',
  );
  expect(run.stderr).toContain('nothing was started');
  expect(run.stderr).toContain('a real run refuses this list until its 1 invalid line(s) are fixed');
  expect(run.exitCode).toBe(2);
  // Nothing started, nothing written.
  await expect(client.workflow.getHandle(bookWorkflowId(ctx.sim.directory, fresh[0])).describe()).rejects.toThrow();
  await expect(client.workflow.getHandle(batchWorkflowId(ctx.sim.directory, 'dry')).describe()).rejects.toThrow();
  expect(existsSync(join(ctx.env.config.pipelineDir, 'batches', 'dry.txt'))).toBe(false);
});

test('a real run reports repeated lines, honours --limit, and says how many books it took', async () => {
  const file = join(ctx.env.dir, 'real.txt');
  writeFileSync(file, [fresh[2], fresh[2], fresh[3], fresh[2]].join('\n') + '\n');
  const run = await runCli(['-c', configFile, 'start-batch', '--barcodes-file', file, '--limit', '1', '--batch-id', 'limited']);
  expect(run.error).toBeUndefined();
  expect(run.stderr).toContain(`${file}:2: ${fresh[2]} repeats line 1 (counted once)`);
  expect(run.stderr).toContain(`${file}:4: ${fresh[2]} repeats line 1 (counted once)`);
  expect(run.stderr).toContain('--limit 1: the first 1 of 2 books; the other 1 are not in this batch');
  expect(run.stderr).toContain('batch limited: 1 books');
  const summary = await client.workflow.getHandle(batchWorkflowId(ctx.sim.directory, 'limited')).result();
  expect(summary).toMatchObject({ total: 1, started: 1, stored: 1 });
  await expect(client.workflow.getHandle(bookWorkflowId(ctx.sim.directory, fresh[3])).describe()).rejects.toThrow();
});

test('--queue converted selects the books GRIN has converted now; an unknown queue is refused', async () => {
  // Downloadable now: at least the book the first batch had GRIN convert and stored.
  const converted = ctx.sim.barcodes.filter((b) => ctx.sim.book(b).inPool);
  expect(converted).toContain(stored);
  const run = await runCli(['-c', configFile, 'start-batch', '--queue', 'converted', '--batch-id', 'converted-only', '--dry-run']);
  expect(run.stderr).toContain(`--queue converted: ${converted.length} book(s) GRIN has converted now (_converted)`);
  const listed = run.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(/ +/)[1]);
  expect(listed.sort()).toEqual([...converted].sort());

  const bad = await runCli(['-c', configFile, 'start-batch', '--queue', 'everything', '--dry-run']);
  expect(bad.exitCode).toBe(2);
  expect(bad.error?.message).toContain('--queue everything: not a queue; use one of converted, unconverted, failed-at-grin');
});

test('--json: start-batch (dry run, and --wait), batch-status, status and retry print one parseable document; unknown ids exit 2', async () => {
  const dry = await runCli(['-c', configFile, 'start-batch', stored, fresh[0], '--batch-id', 'json-dry', '--dry-run', '--json']);
  expect(dry.exitCode).toBe(0);
  const plan = JSON.parse(dry.stdout) as {
    dryRun: boolean;
    batchId: string;
    standing: string;
    plan: { action: string; reason: string; barcode: string }[];
  };
  expect(plan).toMatchObject({ dryRun: true, batchId: 'json-dry', standing: 'new' });
  expect(plan.plan.map((l) => [l.barcode, l.action, l.reason])).toEqual([
    [stored, 'skip', 'already stored'],
    [fresh[0], 'start', 'new'],
  ]);

  const waited = await runCli(['-c', configFile, 'start-batch', fresh[0], '--batch-id', 'json-wait', '--wait', '--json']);
  expect(waited.error).toBeUndefined();
  expect(waited.exitCode).toBe(0);
  // Progress counts this batch's one book, not the other books stored on the board.
  const progress = waited.stderr.split('\n').filter((line) => /^\[\d\d:\d\d:\d\d\] /.test(line));
  expect(progress.at(-1)).toMatch(/^\[\d\d:\d\d:\d\d\] stored 1$/);
  const onBoard = await (
    await import('../../src/buckets/board')
  ).Board.open(ctx.env.config.pipelineDir).then((b) => b.countsOf(['07_stored']));
  expect(onBoard['07_stored']).toBeGreaterThan(1); // the whole board would not have said "stored 1"
  expect(JSON.parse(waited.stdout)).toMatchObject({
    dryRun: false,
    batchId: 'json-wait',
    workflowId: batchWorkflowId(ctx.sim.directory, 'json-wait'),
    books: 1,
    standing: 'new',
    summary: { total: 1, stored: 1, failed: 0, cancelled: 0 },
  });

  const status = await runCli(['-c', configFile, 'batch-status', 'json-wait', '--json']);
  expect(status.exitCode).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ batchId: 'json-wait', state: 'finished', summary: { stored: 1 } });

  const book = await runCli(['-c', configFile, 'status', fresh[0], '--json']);
  expect(book.exitCode).toBe(0);
  expect(JSON.parse(book.stdout)).toMatchObject({ token: { barcode: fresh[0], bucket: '07_stored' }, pendingActivities: [] });

  const noBatch = await runCli(['-c', configFile, 'batch-status', 'nosuch']);
  expect(noBatch.exitCode).toBe(2);
  expect(noBatch.error!.message).toMatch(/^No batch "nosuch" in directory .*: check the id/);

  const noBook = await runCli(['-c', configFile, 'status', 'NOSUCH123']);
  expect(noBook.exitCode).toBe(2);
  expect(noBook.error!.message).toMatch(/^NOSUCH123 is not on the board at .* and has no workflow: check the barcode/);

  const retry = await runCli(['-c', configFile, 'retry', 'NOSUCH123', '--json']);
  expect(retry.exitCode).toBe(2);
  expect(JSON.parse(retry.stdout)).toEqual({
    signal: 'retry',
    results: [
      { barcode: 'NOSUCH123', sent: false, error: expect.stringMatching(/^not on the board at .* and has no workflow: check the barcode/) },
    ],
  });
});

test('retry and cancel agree with status on unknown and stored books: one error line each, exit 2, no advice to resume', async () => {
  for (const signal of ['retry', 'cancel']) {
    const unknown = await runCli(['-c', configFile, signal, 'NOSUCH123']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(
      /^error: NOSUCH123: not on the board at .* and has no workflow: check the barcode \(and -c, the config naming the board\)\n$/,
    );
    const done = await runCli(['-c', configFile, signal, stored]);
    expect(done.exitCode).toBe(2);
    expect(done.stderr).toBe(`error: ${stored}: already stored (07_stored): its workflow has finished; there is nothing to ${signal}\n`);
    expect(done.stderr).not.toContain('resume');
  }
  // status says the same of both: unknown is bad input, stored is shown.
  expect((await runCli(['-c', configFile, 'status', 'NOSUCH123'])).exitCode).toBe(2);
  const status = await runCli(['-c', configFile, 'status', stored]);
  expect(status.exitCode).toBe(0);
  expect(status.stdout).toContain('bucket      07_stored');
});

test('a long list is planned from the board and one list of running workflows, with the same reasons', async () => {
  const { planBatch } = await import('../../src/cli/batch-plan');
  const { Board } = await import('../../src/buckets/board');
  const selection = { barcodes: [stored, running, fresh[1]], invalid: [], duplicates: [], source: 'test' };
  const board = await Board.open(ctx.env.config.pipelineDir);
  const fast = await planBatch(client, ctx.env.config, board, selection, { describeUpTo: 0 });
  expect(fast.map((l) => [l.barcode, l.action, l.reason])).toEqual([
    [stored, 'skip', 'already stored'],
    [running, 'skip', 'already running'],
    [fresh[1], 'start', 'new'],
  ]);
  const exact = await planBatch(client, ctx.env.config, board, selection);
  expect(exact.map((l) => [l.barcode, l.action, l.reason])).toEqual(fast.map((l) => [l.barcode, l.action, l.reason]));
});

test('reconcile --from-temporal --dry-run --json and resume --dry-run --json: parseable, and nothing changed', async () => {
  // A lost token: Temporal still knows the stored book.
  const token = join(ctx.env.config.pipelineDir, '07_stored', `${stored}.json`);
  const saved = readFileSync(token);
  rmSync(token);
  const reconcile = await runCli(['-c', configFile, 'reconcile', '--from-temporal', '--dry-run', '--json']);
  const written = existsSync(token);
  writeFileSync(token, saved);
  expect(written).toBe(false); // a dry run
  expect(reconcile.error).toBeUndefined();
  const report = JSON.parse(reconcile.stdout) as {
    dryRun: boolean;
    problems: unknown[];
    fromTemporal: { rebuilt: string[]; disagreements: string[]; agreed: number };
    counts: Record<string, number>;
  };
  expect(report).toMatchObject({ dryRun: true, problems: [] });
  expect(report.fromTemporal).toMatchObject({ rebuilt: [stored], disagreements: [] });
  expect(report.fromTemporal.agreed).toBeGreaterThan(0);
  expect(Object.keys(report.counts)).toHaveLength(10);
  expect(reconcile.exitCode).toBe(0);
  expect(reconcile.stderr).toContain(`${stored}: board: no token, Temporal: 07_stored`);

  const resume = await runCli(['-c', configFile, 'resume', '--dry-run', '--json']);
  expect(resume.exitCode).toBe(0);
  expect(JSON.parse(resume.stdout)).toEqual({ dryRun: true, started: {}, running: 0, problems: [] });
});

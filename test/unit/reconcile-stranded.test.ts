/**
 * `reconcile --from-temporal` on books whose latest run closed without completing while the token
 * says parked or on its way: a cancelled run is finished as `cancel` would (token to `cancelled`,
 * local files removed) by `--fix`, any other closure is resumed; without `--fix` only the fix is
 * printed. Temporal's visibility answer is given here as data (the integration test
 * book-protocol.test.ts runs the terminated case against the real server).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { bookPaths } from '../../src/activities/deps';
import { Board } from '../../src/buckets/board';
import { reconcileFromTemporal } from '../../src/cli/reconcile-temporal';
import { loadConfig } from '../../src/config/load';
import type { PipelineConfig } from '../../src/config/types';
import { GrinBarcode, GrinStage } from '../../src/workflows/search-attributes';

let dir: string;
let config: PipelineConfig;
let board: Board;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reconcile-stranded-'));
  config = loadConfig({
    env: {},
    overrides: { pipelineDir: path.join(dir, 'pipeline'), processingDir: path.join(dir, 'processing'), grin: { directory: 'PRNC' } },
  });
  board = await Board.open(config.pipelineDir);
  fs.mkdirSync(config.processingDir, { recursive: true });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Visibility's answer: the latest run of each book, closed as `status`, last showing `stage`. */
function closedRuns(runs: { barcode: string; status: WorkflowExecutionInfo['status']['name']; stage: string }[]): Client {
  const infos = runs.map(
    (r) =>
      ({
        workflowId: `grin/PRNC/${r.barcode}`,
        runId: `run-${r.barcode}`,
        startTime: new Date(0),
        status: { name: r.status },
        typedSearchAttributes: new TypedSearchAttributes([
          { key: GrinBarcode, value: r.barcode },
          { key: GrinStage, value: r.stage },
        ]),
      }) as unknown as WorkflowExecutionInfo,
  );
  return {
    workflow: {
      list: () => ({
        async *[Symbol.asyncIterator]() {
          yield* infos;
        },
      }),
    },
  } as unknown as Client;
}

async function parked(barcode: string): Promise<void> {
  await board.create({ barcode, directory: 'PRNC' });
  await board.move(barcode, 'failed', { status: 'parked: 04_decrypted failed' });
}

test('a parked book whose run was cancelled through Temporal: the fix is printed, and --fix cancels it on the board', async () => {
  await parked('CANC11');
  const paths = bookPaths(config.processingDir, 'CANC11');
  fs.writeFileSync(paths.encrypted, 'encrypted bytes');
  const lines: string[] = [];
  const client = closedRuns([{ barcode: 'CANC11', status: 'CANCELLED', stage: 'failed' }]);

  const report = await reconcileFromTemporal(client, config, board, { log: (l) => lines.push(l) });
  expect(report.stranded).toEqual([
    { barcode: 'CANC11', workflow: 'CANCELLED', board: 'failed', fix: 'grin-pipeline reconcile --from-temporal --fix', fixed: false },
  ]);
  expect(report.agreed).toBe(0);
  expect(lines).toEqual([
    expect.stringContaining(
      'CANC11: board: failed, but its workflow closed as CANCELLED: nothing will move it → fix: grin-pipeline reconcile --from-temporal --fix',
    ),
  ]);
  expect(await board.locate('CANC11')).toBe('failed');

  const fixed = await reconcileFromTemporal(client, config, board, { fix: true });
  expect(fixed.stranded).toEqual([expect.objectContaining({ barcode: 'CANC11', fixed: true })]);
  expect(await board.get('CANC11')).toMatchObject({ bucket: 'cancelled', status: expect.stringMatching(/cancelled through Temporal/) });
  expect(fs.existsSync(paths.encrypted)).toBe(false);
});

test('a running book whose run was terminated or failed is resumed by --fix; settled books are left alone', async () => {
  await parked('TERM11');
  await board.create({ barcode: 'FAIL11', directory: 'PRNC' });
  await board.move('FAIL11', '04_decrypted');
  await board.create({ barcode: 'DONE11', directory: 'PRNC' });
  await board.move('DONE11', '07_stored');
  const resumed: string[][] = [];
  const client = closedRuns([
    { barcode: 'TERM11', status: 'TERMINATED', stage: 'failed' },
    { barcode: 'FAIL11', status: 'FAILED', stage: '04_decrypted' },
    { barcode: 'DONE11', status: 'TERMINATED', stage: '07_stored' },
  ]);
  const report = await reconcileFromTemporal(client, config, board, { fix: true, resume: async (b) => void resumed.push(b) });
  expect(report.stranded.map((s) => [s.barcode, s.workflow, s.board, s.fix, s.fixed]).sort()).toEqual([
    ['FAIL11', 'FAILED', '04_decrypted', 'grin-pipeline resume', true],
    ['TERM11', 'TERMINATED', 'failed', 'grin-pipeline resume', true],
  ]);
  expect(resumed).toEqual([['FAIL11', 'TERM11']]);
  expect(report.agreed).toBe(1); // the stored book
  expect(await board.locate('TERM11')).toBe('failed'); // a new run continues from the board as it is
});

test('--dry-run only reports, even with --fix', async () => {
  await parked('DRY111');
  const client = closedRuns([{ barcode: 'DRY111', status: 'CANCELLED', stage: 'failed' }]);
  const report = await reconcileFromTemporal(client, config, board, { fix: true, dryRun: true });
  expect(report.stranded).toEqual([expect.objectContaining({ barcode: 'DRY111', fixed: false })]);
  expect(await board.locate('DRY111')).toBe('failed');
});

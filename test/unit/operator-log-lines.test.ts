/**
 * The worker's log an operator reads (issue 24): one info line when a book parks, with the stage it
 * was in and the reason and no stack, and one when a book is stored. Activities run in Temporal's
 * MockActivityEnvironment with a logger that keeps what is logged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { Board } from '../../src/buckets/board';
import { createBoardActivities } from '../../src/activities/board-ops';
import { createCleanupActivity } from '../../src/activities/cleanup';
import type { ActivityDeps } from '../../src/activities/deps';
import { loadConfig } from '../../src/config/load';

let dir: string;
let board: Board;
let deps: ActivityDeps;
const entries: LogEntry[] = [];
const env = () =>
  new MockActivityEnvironment(
    { workflowExecution: { workflowId: 'grin/PRNC/B00001', runId: 'r' } },
    { logger: new DefaultLogger('DEBUG', (e) => entries.push(e)) },
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'grin-log-lines-'));
  const config = loadConfig({ env: {}, overrides: { pipelineDir: join(dir, 'pipeline'), processingDir: join(dir, 'processing') } });
  board = await Board.open(config.pipelineDir);
  deps = { board, config, hostBooks: { release: () => undefined } } as unknown as ActivityDeps;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => entries.splice(0));

test('a park: one info line naming the stage the book was in and the reason, no error object or stack', async () => {
  await board.create({ barcode: 'B00001', directory: 'PRNC' });
  await board.move('B00001', '03_downloaded');
  const { parkBook } = createBoardActivities(deps);
  const input = { barcode: 'B00001', stage: '04_decrypted' as const, message: 'Could not decrypt: wrong passphrase', type: 'DecryptError' };
  await env().run(parkBook, input);
  const parks = entries.filter((e) => e.message.startsWith('book parked'));
  expect(parks).toHaveLength(1);
  expect(parks[0]).toMatchObject({
    level: 'INFO',
    message: 'book parked: decrypt failed (in 03_downloaded): Could not decrypt: wrong passphrase',
  });
  expect(parks[0].meta).toMatchObject({ barcode: 'B00001', type: 'DecryptError' });
  expect(JSON.stringify(parks[0].meta)).not.toContain('stack');
  expect((await board.get('B00001'))?.status).toBe('parked: decrypt failed (in 03_downloaded)');
  // Parked again for the same reason (an activity run twice): no second line.
  await env().run(parkBook, input);
  expect(entries.filter((e) => e.message.startsWith('book parked'))).toHaveLength(1);
});

test('a book stored: one info line', async () => {
  await board.create({ barcode: 'B00002', directory: 'PRNC' });
  await board.move('B00002', '06_processed', { stored: { archive: 'raw/B00002.tar.gz' }, pageCount: 7 });
  const { cleanupBook } = createCleanupActivity(deps);
  await env().run(cleanupBook, { barcode: 'B00002' });
  const stored = entries.filter((e) => e.message === 'book stored');
  expect(stored).toHaveLength(1);
  expect(stored[0]).toMatchObject({ level: 'INFO', meta: expect.objectContaining({ barcode: 'B00002', pages: 7 }) });
  expect(await board.locate('B00002')).toBe('07_stored');
});

/** Settle notices to one batch go out together; each caller learns the outcome of the signal that carried its notice. */
import { BatchNoticeCoalescer } from '../../src/activities/batch-notices';
import type { BatchNotice, BookSettled } from '../../src/workflows/contracts';

const notice = (barcode: string): BookSettled => ({ barcode, outcome: 'stored' });

test('notices to the same batch within the delay go out as one signal; other batches apart', async () => {
  const sent: { batch: string; barcodes: string[] }[] = [];
  const coalescer = new BatchNoticeCoalescer<string>(
    async (_client, batch, notices) => {
      sent.push({ batch, barcodes: notices.map((n) => n.barcode) });
      return 'delivered';
    },
    { delayMs: 20 },
  );
  const answers = await Promise.all([
    coalescer.tell('c', 'batch-a', notice('A1')),
    coalescer.tell('c', 'batch-a', notice('A2')),
    coalescer.tell('c', 'batch-b', notice('B1')),
    coalescer.tell('c', 'batch-a', notice('A3')),
  ]);
  expect(answers).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
  expect(sent.sort((x, y) => x.batch.localeCompare(y.batch))).toEqual([
    { batch: 'batch-a', barcodes: ['A1', 'A2', 'A3'] },
    { batch: 'batch-b', barcodes: ['B1'] },
  ]);
});

test('a full group goes out at once, and a failed signal fails each of its callers (their activities retry)', async () => {
  let calls = 0;
  const coalescer = new BatchNoticeCoalescer<string>(
    async (_client, _batch, notices): Promise<BatchNotice> => {
      calls++;
      if (notices.some((n) => n.barcode === 'BAD')) throw new Error('Temporal unavailable');
      return 'batch-not-running';
    },
    { delayMs: 60_000, maxNotices: 2 },
  );
  // Two notices fill the group: no 60 s wait.
  await expect(Promise.all([coalescer.tell('c', 'b', notice('X1')), coalescer.tell('c', 'b', notice('X2'))])).resolves.toEqual([
    'batch-not-running',
    'batch-not-running',
  ]);
  const failing = [coalescer.tell('c', 'b', notice('OK')), coalescer.tell('c', 'b', notice('BAD'))];
  for (const p of failing) await expect(p).rejects.toThrow('Temporal unavailable');
  expect(calls).toBe(2);
});

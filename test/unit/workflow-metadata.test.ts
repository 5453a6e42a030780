/** The Web UI's current details of a book (src/workflows/metadata.ts), a pure function of its status. */
import { bookCurrentDetails } from '../../src/workflows/metadata';
import type { BookStatus } from '../../src/workflows/contracts';

const base: BookStatus = {
  barcode: '39999000000001',
  directory: 'TEST',
  bucket: '03_downloaded',
  state: 'running',
  activity: 'decrypting',
  reRequests: 0,
  hostMoves: 0,
};

test('a running book reads: state, stage on its way, what it does', () => {
  expect(bookCurrentDetails(base, 0)).toBe('**running** · 03_downloaded → 04_decrypted: decrypting');
});

test('a cancelled book says "cancelled" once, then the reason', () => {
  const details = bookCurrentDetails({ ...base, bucket: 'cancelled', state: 'cancelled', activity: 'cancelled: wrong volume' }, 0);
  expect(details).toBe('**cancelled** · cancelled: wrong volume');
  expect(details).not.toMatch(/cancelled: cancelled/);
});

test('a parked book gives the reason, what to do and the counters', () => {
  const details = bookCurrentDetails(
    {
      ...base,
      bucket: 'failed',
      state: 'parked',
      activity: 'parked: …',
      lastError: { stage: '04_decrypted', message: 'wrong passphrase', type: 'DecryptError' },
      hostMoves: 2,
    },
    1,
  );
  expect(details.split('\n')).toEqual([
    '**parked** at 04_decrypted: wrong passphrase',
    expect.stringMatching(/^\*\*to do\*\*: .* — send the `retry` signal \(or `cancel`\)\.$/),
    'error type: DecryptError',
    'hosts lost 2 · operator retries 1',
  ]);
});

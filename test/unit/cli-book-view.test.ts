/** The CLI's wording for one book: the state is said once, and a cancelled book shows why it was cancelled. */
import { listingNote, workflowLine } from '../../src/cli/book-view';

describe('workflowLine (status)', () => {
  test('a parked book: "parked: <reason>", not "parked: parked: <reason>"', () => {
    expect(workflowLine({ state: 'parked', activity: 'parked: wrong passphrase', reRequests: 0 })).toBe('parked: wrong passphrase');
  });

  test('a cancelled book: the reason once', () => {
    expect(workflowLine({ state: 'cancelled', activity: 'cancelled: withdrawn', reRequests: 0 })).toBe('cancelled: withdrawn');
  });

  test('a running book keeps its activity and re-request count', () => {
    expect(workflowLine({ state: 'running', activity: 'downloading', reRequests: 2 })).toBe('running: downloading (re-requested 2x)');
  });

  test('only a leading state prefix is dropped', () => {
    expect(workflowLine({ state: 'running', activity: 'waiting: parked: odd text', reRequests: 0 })).toBe(
      'running: waiting: parked: odd text',
    );
  });
});

describe('listingNote (board --bucket)', () => {
  const oldError = { stage: '04_decrypted' as const, message: 'wrong passphrase', at: '2026-01-01T00:00:00Z' };

  test('cancelled: the cancel reason, not the error it had before', () => {
    expect(listingNote({ bucket: 'cancelled', status: 'withdrawn by the library', lastError: oldError })).toBe('withdrawn by the library');
  });

  test('failed: the error it is parked for', () => {
    expect(listingNote({ bucket: 'failed', status: 'parked: 04_decrypted failed', lastError: oldError })).toBe('wrong passphrase');
  });

  test('a retried book in progress: its status, not the error it was retried after', () => {
    expect(listingNote({ bucket: '03_downloaded', status: 'retrying', lastError: oldError })).toBe('retrying');
    expect(listingNote({ bucket: '03_downloaded' })).toBe('');
  });
});

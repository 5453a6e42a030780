import { ConversionListings } from '../../src/grin/conversion-listings';
import type { ConvertedEntry, FailedEntry } from '../../src/grin/types';

function fakeGrin() {
  const state = {
    converted: [] as ConvertedEntry[],
    failed: [] as FailedEntry[],
    convertedCalls: 0,
    failedCalls: 0,
    fail: false,
  };
  const client = {
    async listConverted() {
      state.convertedCalls++;
      await new Promise((r) => setTimeout(r, 20));
      if (state.fail) throw new Error('GRIN GET /T/_converted, HTTP 503: boom');
      return [...state.converted];
    },
    async listFailed() {
      state.failedCalls++;
      return [...state.failed];
    },
  };
  return { state, client };
}

describe('ConversionListings', () => {
  it('serves 50 concurrent callers from one fetch, and refetches only after the interval', async () => {
    let now = 1_000;
    const { state, client } = fakeGrin();
    state.converted = [{ barcode: 'B1', filename: 'TEST_B1.tar.gz.gpg' }];
    state.failed = [{ barcode: 'B2', info: 'Error: Timeout' }];
    const listings = new ConversionListings(client, { intervalMs: 60_000, now: () => now });

    const barcodes = Array.from({ length: 50 }, (_, i) => `B${i + 1}`);
    const results = await Promise.all(barcodes.map((b) => listings.check(b)));
    expect(state.convertedCalls).toBe(1);
    expect(state.failedCalls).toBe(1);
    expect(results[0]).toEqual({ state: 'converted', filename: 'TEST_B1.tar.gz.gpg' });
    expect(results[1]).toEqual({ state: 'failed', entry: { barcode: 'B2', info: 'Error: Timeout' } });
    expect(results.slice(2).every((r) => r.state === 'waiting')).toBe(true);

    now += 59_999;
    state.converted.push({ barcode: 'B3', filename: 'B3.tar.gz.gpg' });
    expect(await listings.check('B3')).toMatchObject({ state: 'waiting' });
    expect(state.convertedCalls).toBe(1);

    now += 1;
    expect(await listings.check('B3')).toEqual({ state: 'converted', filename: 'B3.tar.gz.gpg' });
    expect(state.convertedCalls).toBe(2);
  });

  it('invalidate() makes the next check fetch again', async () => {
    const { state, client } = fakeGrin();
    const listings = new ConversionListings(client, { intervalMs: 60_000 });
    await listings.check('B1');
    listings.invalidate();
    state.converted = [{ barcode: 'B1', filename: 'B1.tar.gz.gpg' }];
    expect((await listings.check('B1')).state).toBe('converted');
    expect(state.convertedCalls).toBe(2);
  });

  it('a failed fetch is an error for every waiting caller, never an empty listing', async () => {
    const { state, client } = fakeGrin();
    state.fail = true;
    const listings = new ConversionListings(client, { intervalMs: 60_000 });
    const results = await Promise.allSettled([listings.check('B1'), listings.check('B2')]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(state.convertedCalls).toBe(1);
    state.fail = false;
    expect((await listings.check('B1')).state).toBe('waiting');
    expect(state.convertedCalls).toBe(2);
  });
});

describe('ConversionListings when only _failed cannot be read', () => {
  it('answers for converted books from _converted, and fails the others with the _failed error, one fetch per interval', async () => {
    let now = 1_000;
    let failedCalls = 0;
    const client = {
      listConverted: async () => [{ barcode: 'C1', filename: 'C1.tar.gz.gpg' }],
      listFailed: async (): Promise<FailedEntry[]> => {
        failedCalls++;
        throw new Error('GRIN GET /T/_failed, HTTP 200: page 1 of the listing was refused');
      },
    };
    const listings = new ConversionListings(client, { intervalMs: 60_000, now: () => now });
    expect(await listings.check('C1')).toEqual({ state: 'converted', filename: 'C1.tar.gz.gpg' });
    expect(listings.answersConvertedOnly).toBe(true);
    await expect(listings.check('W1')).rejects.toThrow(/_failed.*could not be read.*refused/);
    expect(failedCalls).toBe(1);
    now += 60_000;
    expect(await listings.check('C1')).toEqual({ state: 'converted', filename: 'C1.tar.gz.gpg' });
    expect(failedCalls).toBe(2);
  });
});

describe('ConversionListings tracking the conversion queue', () => {
  test('reads _in_process before _converted and says whether a waiting book is queued', async () => {
    const calls: string[] = [];
    const client = {
      listInProcess: async () => (calls.push('in_process'), ['Q1']),
      listConverted: async () => (calls.push('converted'), [{ barcode: 'C1', filename: 'C1.tar.gz.gpg' }]),
      listFailed: async () => (calls.push('failed'), []),
    };
    const listings = new ConversionListings(client, { intervalMs: 60_000, now: () => 5_000, trackInProcess: true });
    expect(await listings.check('Q1')).toEqual({ state: 'waiting', inProcess: true, seenAt: 5_000 });
    expect(await listings.check('LOST')).toEqual({ state: 'waiting', inProcess: false, seenAt: 5_000 });
    expect(await listings.check('C1')).toEqual({ state: 'converted', filename: 'C1.tar.gz.gpg' });
    expect(calls[0]).toBe('in_process');
    expect(calls.filter((c) => c === 'in_process')).toHaveLength(1);
  });
});

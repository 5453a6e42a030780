/** GrinClient `_process` and `_barcode_search` over real HTTP against the simulator. */
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { QueueFullError } from '../../src/grin/errors';
import { clientFor, logged, retried } from './grin-client-helpers';

describe('GrinClient _process against the simulator', () => {
  let sim: RunningSimulator;
  beforeEach(async () => {
    sim = await startSimulator({
      barcodes: ['NEW00001', 'NEW00002', 'NEW00003', 'NEW00004', 'NEW00005', 'CONV0006', 'CHECK007', 'NOTAV008'],
      initialState: 'all-new',
      initialStates: { CONV0006: 'CONVERTED', CHECK007: 'CHECKED_IN', NOTAV008: 'NOT_AVAILABLE_FOR_DOWNLOAD' },
      queueCap: 4,
    });
  });
  afterEach(async () => {
    await sim.close();
  });

  it('maps every status: Success, Already being converted, Already available, Not allowed, Other error', async () => {
    const client = clientFor(sim);
    try {
      expect(await client.requestConversion(['NEW00001'])).toEqual(new Map([['NEW00001', { kind: 'requested' }]]));
      const outcomes = await client.requestConversion(['NEW00001', 'CONV0006', 'CHECK007', 'NOTAV008', 'UNKNOWN9']);
      expect(outcomes.get('NEW00001')).toEqual({ kind: 'already_converting' });
      expect(outcomes.get('CONV0006')).toEqual({ kind: 'already_available' });
      expect(outcomes.get('CHECK007')).toEqual({ kind: 'not_allowed', text: 'Not allowed to be downloaded' });
      expect(outcomes.get('NOTAV008')).toEqual({ kind: 'not_allowed', text: 'Not allowed to be downloaded' });
      expect(outcomes.get('UNKNOWN9')).toEqual({ kind: 'other_error', text: 'Other error' });
      const last = logged(sim, '_process').at(-1)!;
      expect(last.query).toBe('barcodes=NEW00001,CONV0006,CHECK007,NOTAV008,UNKNOWN9');
    } finally {
      await client.close();
    }
  });

  it('sends batches of processBatchSize, comma-separated', async () => {
    const client = clientFor(sim, { processBatchSize: 2 });
    try {
      const outcomes = await client.requestConversion(['NEW00001', 'NEW00002', 'NEW00003']);
      expect([...outcomes.values()]).toEqual([{ kind: 'requested' }, { kind: 'requested' }, { kind: 'requested' }]);
      expect(logged(sim, '_process').map((e) => e.barcodes)).toEqual([['NEW00001', 'NEW00002'], ['NEW00003']]);
    } finally {
      await client.close();
    }
  });

  it('HTTP 429 (queue full) throws QueueFullError at once, with what was accepted and what was not', async () => {
    const client = clientFor(sim, { processBatchSize: 3 });
    try {
      await client.requestConversion(['NEW00001', 'NEW00002']);
      const err = (await client
        .requestConversion(['NEW00003', 'NEW00004', 'NEW00005', 'CONV0006'])
        .catch((e: unknown) => e)) as QueueFullError;
      expect(err).toBeInstanceOf(QueueFullError);
      expect(err.status).toBe(429);
      expect(err.message).toMatch(/queue is full/);
      expect(err.partial.get('NEW00003')).toEqual({ kind: 'requested' });
      expect(err.partial.get('NEW00004')).toEqual({ kind: 'requested' });
      expect(err.notSubmitted).toEqual(['NEW00005', 'CONV0006']);
      // Not retried inside the client: exactly one request for the refused batch, none after it.
      const calls = logged(sim, '_process');
      expect(calls.map((c) => c.status)).toEqual([200, 429]);
      expect(sim.stats().queued).toBe(4);
      expect(sim.stats().queueFullRefusals).toBe(1);
    } finally {
      await client.close();
    }
  });

  it("a 5xx on _process is a transient failure of the one request; the caller's retry asks again", async () => {
    const client = clientFor(sim);
    try {
      sim.setFaults({ serverError: { times: 1 } });
      await expect(client.requestConversion(['NEW00001'])).rejects.toMatchObject({ status: 500, retryable: true });
      expect(logged(sim, '_process').map((c) => c.status)).toEqual([500]);
      sim.setFaults({ serverError: { times: 1 } });
      expect((await retried(() => client.requestConversion(['NEW00001']))).get('NEW00001')).toEqual({ kind: 'requested' });
      expect(logged(sim, '_process').map((c) => c.status)).toEqual([500, 500, 200]);
    } finally {
      await client.close();
    }
  });

  it('refuses malformed barcodes before sending anything', async () => {
    const client = clientFor(sim);
    try {
      await expect(client.requestConversion(['OK000001', 'bad,one'])).rejects.toThrow(/barcode "bad,one" is not valid/);
      expect(logged(sim, '_process')).toHaveLength(0);
    } finally {
      await client.close();
    }
  });
});

describe('GrinClient _barcode_search against the simulator', () => {
  it('returns fields by header name and packs barcodes into URLs within the length limit', async () => {
    const sim = await startSimulator({ books: 40, initialState: 'mixed', seed: 11 });
    const maxLength = 400;
    const client = clientFor(sim, { maxSearchUrlLength: maxLength });
    try {
      const wanted = [...sim.barcodes, 'NOSUCH01'];
      const found = await client.barcodeSearch(wanted);
      expect([...found.keys()].sort()).toEqual([...sim.barcodes].sort());
      for (const b of sim.barcodes) {
        expect(found.get(b)!.Barcode).toBe(b);
        expect(found.get(b)!.State).toBe(sim.book(b).state);
      }
      const calls = logged(sim, '_barcode_search');
      expect(calls.length).toBeGreaterThan(1);
      const origin = new URL(sim.baseUrl).origin;
      for (const c of calls) {
        expect((origin + c.path + '?' + c.query).length).toBeLessThanOrEqual(maxLength);
        const q = new URLSearchParams(c.query);
        expect(q.get('execute_query')).toBe('true');
        expect(q.get('format')).toBe('text');
        expect(q.get('mode')).toBe('full');
        expect(c.query).toContain('%20');
      }
      expect(calls.flatMap((c) => c.barcodes)).toEqual(wanted);
    } finally {
      await client.close();
      await sim.close();
    }
  });
});

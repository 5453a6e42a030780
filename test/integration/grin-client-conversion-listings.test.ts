/** ConversionListings and enrichment over real HTTP: many waiting books, one listing fetch per interval. */
import { startSimulator } from '../../devkit/simulator';
import { ConversionListings } from '../../src/grin/conversion-listings';
import { enrichBarcodes } from '../../src/grin/enrich';
import { clientFor, logged } from './grin-client-helpers';

describe('ConversionListings against the simulator', () => {
  it('50 concurrent callers cause one _converted and one _failed fetch per interval', async () => {
    const barcodes = Array.from({ length: 50 }, (_, i) => `WAIT${String(i).padStart(4, '0')}`);
    const sim = await startSimulator({ barcodes, initialState: 'all-new', conversionDelaySeconds: 30, failConversion: ['WAIT0049'] });
    const client = clientFor(sim);
    try {
      await client.requestConversion(barcodes);
      // The listings' own clock, moved by the test: whatever the machine's speed, the checks below
      // fall inside the interval, then after it.
      let now = 1_000_000;
      const listings = new ConversionListings(client, { intervalMs: 1_500, now: () => now });
      const first = await Promise.all(barcodes.map((b) => listings.check(b)));
      expect(first.every((s) => s.state === 'waiting')).toBe(true);
      expect(logged(sim, '_converted')).toHaveLength(1);
      expect(logged(sim, '_failed')).toHaveLength(1);

      sim.advance(60);
      now += 1_499;
      // Still inside the interval: the cached view is served, GRIN is not asked.
      const cached = await Promise.all(barcodes.map((b) => listings.check(b)));
      expect(cached.every((s) => s.state === 'waiting')).toBe(true);
      expect(logged(sim, '_converted')).toHaveLength(1);

      now += 1;
      const later = await Promise.all(barcodes.map((b) => listings.check(b)));
      expect(logged(sim, '_converted')).toHaveLength(2);
      expect(logged(sim, '_failed')).toHaveLength(2);
      expect(later[0]).toEqual({ state: 'converted', filename: 'WAIT0000.tar.gz.gpg' });
      expect(later[49]!.state).toBe('failed');
      expect(later.filter((s) => s.state === 'converted')).toHaveLength(49);
    } finally {
      await client.close();
      await sim.close();
    }
  });

  it('enrichBarcodes reports found and unknown barcodes through _barcode_search', async () => {
    const sim = await startSimulator({ books: 10, seed: 2 });
    const client = clientFor(sim);
    try {
      const seen = new Map<string, string | null>();
      const summary = await enrichBarcodes(
        client,
        [...sim.barcodes, 'MISSING1'],
        (b, f) => {
          seen.set(b, f ? f.State! : null);
        },
        { chunkSize: 4 },
      );
      expect(summary).toEqual({ found: 10, missing: 1 });
      expect(seen.get('MISSING1')).toBeNull();
      for (const b of sim.barcodes) expect(seen.get(b)).toBe(sim.book(b).state);
      expect(logged(sim, '_barcode_search')).toHaveLength(3);
    } finally {
      await client.close();
      await sim.close();
    }
  });
});

import { enrichBarcodes, packBarcodesIntoUrls } from '../../src/grin/enrich';

describe('packBarcodesIntoUrls', () => {
  const prefix = 'http://127.0.0.1:1/libraries/TEST/_barcode_search?execute_query=true&format=text&mode=full&barcodes=';
  it('packs as many barcodes as fit in the URL length limit', () => {
    const barcodes = Array.from({ length: 1000 }, (_, i) => `3204409999${String(i).padStart(4, '0')}`);
    const batches = packBarcodesIntoUrls(prefix, barcodes, 7_500);
    expect(batches.flat()).toEqual(barcodes);
    for (const batch of batches) expect((prefix + batch.join('%20')).length).toBeLessThanOrEqual(7_500);
    // Each batch but the last is full: one more barcode would not fit.
    for (const batch of batches.slice(0, -1)) expect((prefix + batch.join('%20')).length + 3 + 14).toBeGreaterThan(7_500);
    expect(batches.length).toBe(Math.ceil(1000 / Math.floor((7_500 - prefix.length + 3) / 17)));
  });
  it('refuses a barcode that cannot fit at all', () => {
    expect(() => packBarcodesIntoUrls(prefix, ['x'.repeat(200)], prefix.length + 10)).toThrow(/does not fit/);
  });
});

describe('enrichBarcodes', () => {
  it('reports every barcode once, found or missing, in chunks', async () => {
    const calls: string[][] = [];
    const client = {
      async barcodeSearch(barcodes: string[]) {
        calls.push(barcodes);
        return new Map(barcodes.filter((b) => b !== 'B3').map((b) => [b, { Barcode: b, State: 'NEW' }]));
      },
    };
    const seen: [string, string | null][] = [];
    const summary = await enrichBarcodes(
      client,
      ['B1', 'B2', 'B3', 'B2', 'B4', 'B5'],
      (b, f) => {
        seen.push([b, f ? f.State! : null]);
      },
      { chunkSize: 2 },
    );
    expect(calls).toEqual([['B1', 'B2'], ['B3', 'B4'], ['B5']]);
    expect(seen).toEqual([
      ['B1', 'NEW'],
      ['B2', 'NEW'],
      ['B3', null],
      ['B4', 'NEW'],
      ['B5', 'NEW'],
    ]);
    expect(summary).toEqual({ found: 4, missing: 1 });
  });
});

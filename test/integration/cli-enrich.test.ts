/** `enrich`: GRIN's _barcode_search fields written per book, unknown barcodes recorded as such. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeEnrichment, type EnrichRecord } from '../../src/cli/enrich';
import { StaticTokenSource } from '../../src/grin/auth';
import { GrinClient } from '../../src/grin/client';
import { startSimulator, type RunningSimulator } from '../../src/simulator';

let sim: RunningSimulator;
let out: string;

beforeAll(async () => {
  sim = await startSimulator({ books: 5, seed: 3 });
  out = mkdtempSync(join(tmpdir(), 'grin-enrich-'));
});
afterAll(async () => {
  await sim.close();
  rmSync(out, { recursive: true, force: true });
});

test('writes one file per barcode with the fields keyed by GRIN header name', async () => {
  const grin = new GrinClient({ baseUrl: sim.baseUrl, directory: sim.directory, tokens: new StaticTokenSource('sim-token') });
  const unknown = 'NOSUCHBOOK1';
  const summary = await writeEnrichment(grin, sim.directory, [...sim.barcodes, unknown], out);
  expect(summary).toEqual({ found: 5, missing: 1 });
  for (const barcode of sim.barcodes) {
    const record = JSON.parse(readFileSync(join(out, `${barcode}.grin.json`), 'utf8')) as EnrichRecord;
    expect(record.found).toBe(true);
    expect(record.fields?.Barcode).toBe(barcode);
    expect(record.fields?.State).toBe(sim.book(barcode).state);
    expect(Object.keys(record.fields ?? {})).toEqual(expect.arrayContaining(['Viewability', 'Scanned Date', "OCR'd Date"]));
  }
  const missing = JSON.parse(readFileSync(join(out, `${unknown}.grin.json`), 'utf8')) as EnrichRecord;
  expect(missing).toMatchObject({ barcode: unknown, found: false, fields: null });
});

/** `enrich`: GRIN's _barcode_search fields written per book, unknown barcodes recorded as such. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeEnrichment, type EnrichRecord } from '../../src/cli/enrich';
import { StaticTokenSource } from '../../src/grin/auth';
import { GrinClient } from '../../src/grin/client';
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';

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
  expect(summary).toEqual({ found: 5, missing: 1, out, unknown: [unknown] });
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

test('the CLI: --json prints the summary with the unknown barcodes by name, and exits 2 naming them', async () => {
  const { runCli, writeConfigFile } = await import('../support/cli');
  const { loadConfig } = await import('../../src/config/load');
  const tokenFile = join(out, 'token.txt');
  writeFileSync(tokenFile, 'sim-token\n', { mode: 0o600 });
  const config = loadConfig({
    env: {},
    overrides: {
      pipelineDir: join(out, 'pipeline'),
      processingDir: join(out, 'processing'),
      grin: { baseUrl: sim.baseUrl, directory: sim.directory, accessToken: { file: tokenFile } },
    },
  });
  const cliOut = join(out, 'cli');
  const [known] = sim.barcodes;
  const run = await runCli(['-c', writeConfigFile(out, config), 'enrich', known, 'NOSUCHBOOK2', '--out', cliOut, '--json']);
  expect(run.exitCode).toBe(2);
  expect(JSON.parse(run.stdout)).toEqual({ found: 1, missing: 1, out: cliOut, unknown: ['NOSUCHBOOK2'] });
  expect(run.stderr).toMatch(/^error: unknown to GRIN: NOSUCHBOOK2 \(/m);
  expect(run.stdout + run.stderr).not.toContain('sim-token');

  const allKnown = await runCli(['-c', writeConfigFile(out, config), 'enrich', known, '--out', cliOut, '--json']);
  expect(allKnown.exitCode).toBe(0);
  expect(JSON.parse(allKnown.stdout)).toMatchObject({ found: 1, missing: 0, unknown: [] });
});

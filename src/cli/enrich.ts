/**
 * `enrich`: GRIN's detailed per-volume metadata (`_barcode_search`) written per book as
 * `<out>/<barcode>.grin.json`, fields keyed by GRIN's own header names. Barcodes GRIN does not know
 * are written too (`found: false`), so a re-run can tell "looked up, nothing there" from "not done".
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file';
import { enrichBarcodes, type EnrichSummary } from '../grin/enrich';
import type { GrinApi } from '../grin/types';

export interface EnrichRecord {
  barcode: string;
  directory: string;
  fetchedAt: string;
  found: boolean;
  fields: Record<string, string> | null;
}

export async function writeEnrichment(
  grin: Pick<GrinApi, 'barcodeSearch'>,
  directory: string,
  barcodes: string[],
  outDir: string,
  onProgress: (done: number) => void = () => undefined,
): Promise<EnrichSummary> {
  await mkdir(outDir, { recursive: true });
  let done = 0;
  return enrichBarcodes(grin, barcodes, async (barcode, fields) => {
    const record: EnrichRecord = { barcode, directory, fetchedAt: new Date().toISOString(), found: fields !== null, fields };
    const file = join(outDir, `${barcode}.grin.json`);
    await writeFileAtomic(file, JSON.stringify(record, null, 2) + '\n', { noSync: true });
    onProgress(++done);
  });
}

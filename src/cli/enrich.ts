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

/** What `enrich --json` prints (docs/cli.md): counts, and the barcodes GRIN did not know, by name. */
export interface EnrichResult extends EnrichSummary {
  out: string;
  unknown: string[];
}

export async function writeEnrichment(
  grin: Pick<GrinApi, 'barcodeSearch'>,
  directory: string,
  barcodes: string[],
  outDir: string,
  onProgress: (done: number) => void = () => undefined,
): Promise<EnrichResult> {
  await mkdir(outDir, { recursive: true });
  let done = 0;
  const unknown: string[] = [];
  const summary = await enrichBarcodes(grin, barcodes, async (barcode, fields) => {
    const record: EnrichRecord = { barcode, directory, fetchedAt: new Date().toISOString(), found: fields !== null, fields };
    if (fields === null) unknown.push(barcode);
    const file = join(outDir, `${barcode}.grin.json`);
    await writeFileAtomic(file, JSON.stringify(record, null, 2) + '\n', { noSync: true });
    onProgress(++done);
  });
  return { ...summary, out: outDir, unknown };
}

/** The line naming the barcodes GRIN does not know (the first few, then how many more). */
export function unknownBarcodesLine(unknown: string[], out: string): string {
  const shown = unknown.slice(0, 10).join(', ') + (unknown.length > 10 ? ` and ${unknown.length - 10} more` : '');
  return `unknown to GRIN: ${shown} (recorded with "found": false in ${out}); check the barcode(s) and the config's grin.directory`;
}

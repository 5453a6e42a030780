/**
 * `_barcode_search` enrichment: packing barcodes into URLs of bounded length (PROTOCOL.md §2.9) and
 * driving a long barcode list through the client in chunks, reporting every barcode once.
 */
import { GrinUsageError } from './errors';
import type { GrinApi } from './types';

/**
 * Splits `barcodes` into groups whose URL `prefix + b1%20b2%20…` stays within `maxLength`
 * characters. Throws when a single barcode alone does not fit.
 */
export function packBarcodesIntoUrls(prefix: string, barcodes: readonly string[], maxLength: number): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let length = prefix.length;
  for (const barcode of barcodes) {
    const encoded = encodeURIComponent(barcode).length;
    const added = current.length === 0 ? encoded : encoded + 3; // '%20' separator
    if (current.length > 0 && length + added > maxLength) {
      batches.push(current);
      current = [];
      length = prefix.length;
    }
    const cost = current.length === 0 ? encoded : encoded + 3;
    if (prefix.length + cost > maxLength) {
      throw new GrinUsageError(
        `barcode ${JSON.stringify(barcode)} does not fit in a _barcode_search URL of at most ${maxLength} characters`,
      );
    }
    current.push(barcode);
    length += cost;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export interface EnrichOptions {
  /** Barcodes handed to the client per call (it packs them into URLs itself). Default 1,000. */
  chunkSize?: number;
  signal?: AbortSignal;
}

export interface EnrichSummary {
  found: number;
  missing: number;
}

/**
 * Looks up every barcode with `_barcode_search` and calls `onRecord` once per barcode, with GRIN's
 * fields keyed by header name, or null when GRIN does not know the barcode. Stops at the first
 * error (thrown), after the chunks before it were reported.
 */
export async function enrichBarcodes(
  client: Pick<GrinApi, 'barcodeSearch'>,
  barcodes: Iterable<string>,
  onRecord: (barcode: string, fields: Record<string, string> | null) => void | Promise<void>,
  opts: EnrichOptions = {},
): Promise<EnrichSummary> {
  const chunkSize = opts.chunkSize ?? 1_000;
  const summary: EnrichSummary = { found: 0, missing: 0 };
  let chunk: string[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    opts.signal?.throwIfAborted();
    const found = await client.barcodeSearch(chunk);
    for (const barcode of chunk) {
      const fields = found.get(barcode) ?? null;
      if (fields) summary.found++;
      else summary.missing++;
      await onRecord(barcode, fields);
    }
    chunk = [];
  };
  const seen = new Set<string>();
  for (const barcode of barcodes) {
    if (seen.has(barcode)) continue;
    seen.add(barcode);
    chunk.push(barcode);
    if (chunk.length >= chunkSize) await flush();
  }
  await flush();
  return summary;
}

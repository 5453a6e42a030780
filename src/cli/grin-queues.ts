/**
 * `start-batch --queue NAME`: books chosen by where GRIN has them, read from GRIN's own listings
 * at the moment the batch starts.
 *  - `converted`: packages GRIN has ready now. Downloading them costs no conversion slot (the
 *    seed's first pipeline: download and decode everything already converted).
 *  - `unconverted`: in `_all_books` but neither converted nor in GRIN's conversion queue.
 *  - `failed-at-grin`: books whose conversion GRIN reports as failed (`_failed`), to try again.
 * Listing order is kept; a book listed twice is taken once.
 */
import type { GrinApi } from '../grin/types';

export const GRIN_QUEUES = ['converted', 'unconverted', 'failed-at-grin'] as const;
export type GrinQueue = (typeof GRIN_QUEUES)[number];

export function isGrinQueue(name: string): name is GrinQueue {
  return (GRIN_QUEUES as readonly string[]).includes(name);
}

export interface QueueSelection {
  barcodes: string[];
  /** One line on where the list came from, for the operator. */
  description: string;
}

export async function barcodesInQueue(
  grin: Pick<GrinApi, 'listAllBarcodes' | 'listConverted' | 'listInProcess' | 'listFailed'>,
  queue: GrinQueue,
): Promise<QueueSelection> {
  switch (queue) {
    case 'converted': {
      const barcodes = unique((await grin.listConverted()).map((e) => e.barcode));
      return { barcodes, description: `${barcodes.length} book(s) GRIN has converted now (_converted)` };
    }
    case 'failed-at-grin': {
      const barcodes = unique((await grin.listFailed()).map((e) => e.barcode));
      return { barcodes, description: `${barcodes.length} book(s) whose conversion failed at GRIN (_failed)` };
    }
    case 'unconverted': {
      const [converted, inProcess] = await Promise.all([grin.listConverted(), grin.listInProcess()]);
      const skip = new Set([...converted.map((e) => e.barcode), ...inProcess]);
      const all: string[] = [];
      for await (const barcode of grin.listAllBarcodes()) all.push(barcode);
      const barcodes = unique(all.filter((b) => !skip.has(b)));
      return {
        barcodes,
        description: `${barcodes.length} book(s) in _all_books neither converted (${converted.length}) nor in GRIN's queue (${inProcess.length})`,
      };
    }
  }
}

function unique(barcodes: string[]): string[] {
  return [...new Set(barcodes)];
}

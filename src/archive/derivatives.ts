/**
 * The derivatives of one unpacked book: `<barcode>_ocr.jsonl.gz` and `<barcode>_marc.json`.
 *
 * A book without OCR text or without a MARC record is still a book worth storing, so neither is an
 * error here (GT fails its text-extraction step instead): the OCR file is then an empty JSONL
 * (pageCount 0) and the result carries a note saying why; the MARC JSON says `hasMarc: false`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { DerivativesResult, MarcRecord } from './types';
import { isSafeFileNamePart } from '../common/identifiers';
import { ArchiveUsageError, NoOcrTextError } from './errors';
import { extractMarc } from './marc';
import { writeGzipAtomically, writeOcrJsonl } from './ocr';
import { writeNewFileAtomically } from './output-files';
import { PRIVATE_DIR_MODE } from '../common/file-modes';

/** What `<barcode>_marc.json` holds. */
export interface MarcJson {
  barcode: string;
  hasMarc: boolean;
  marc: MarcRecord | null;
  note?: string;
}

/** Barcodes become file names: refuse anything that could be a path. */
export function assertSafeBarcode(barcode: string): void {
  if (!isSafeFileNamePart(barcode)) {
    throw new ArchiveUsageError(`Invalid barcode "${barcode}": only letters, digits, ".", "_" and "-" are allowed.`);
  }
}

export const ocrFileName = (barcode: string): string => `${barcode}_ocr.jsonl.gz`;
export const marcFileName = (barcode: string): string => `${barcode}_marc.json`;

/** Writes both derivatives of the book unpacked in `dir` into `outDir`. */
export async function makeDerivatives(dir: string, barcode: string, outDir: string): Promise<DerivativesResult & { notes: string[] }> {
  assertSafeBarcode(barcode);
  await mkdir(outDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const notes: string[] = [];

  const ocrPath = join(outDir, ocrFileName(barcode));
  let pageCount = 0;
  try {
    ({ pageCount } = await writeOcrJsonl(dir, ocrPath));
  } catch (err) {
    if (!(err instanceof NoOcrTextError)) throw err;
    await writeGzipAtomically(Readable.from([]), ocrPath);
    notes.push('The archive has no OCR page text (no NNNNNNNN.txt files); the OCR file is empty.');
  }

  const marc = await extractMarc(dir);
  const marcJson: MarcJson = { barcode, hasMarc: marc !== null, marc };
  if (!marc) {
    marcJson.note = 'The archive has no MARC record (no METS XML with a MARC21 record).';
    notes.push(marcJson.note);
  }
  const marcPath = join(outDir, marcFileName(barcode));
  await writeNewFileAtomically(marcPath, async (out) => {
    out.end(JSON.stringify(marcJson, null, 2) + '\n');
    await finished(out);
  });

  return { ocrPath, pageCount, marcPath, hasMarc: marc !== null, notes };
}

/**
 * `grin-pipeline unpack`: the whole file path for one local archive, outside Temporal, for operators
 * checking an archive by hand or re-processing archives fetched by other tools.
 *
 * Layout under `outDir`: `<barcode>.tar.gz` (decrypted), `<barcode>/` (unpacked files),
 * `<barcode>_ocr.jsonl.gz`, `<barcode>_marc.json`.
 */
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ChecksumResult, ExtractLimits } from './types';
import { assertSafeBarcode, makeDerivatives } from './derivatives';
import { decryptAndExtract, derivativeInputsOnly } from './extract';
import { verifyChecksums } from './verify';

/** Used when neither the caller nor the configuration says otherwise. */
export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxUnpackedBytes: 20 * 1024 ** 3,
  maxEntries: 100_000,
};

export interface UnpackSummary {
  barcode: string;
  archive: string;
  decryptedPath: string;
  decryptedBytes: number;
  extractedDir: string;
  files: number;
  bytes: number;
  checksum: ChecksumResult;
  ocrPath: string;
  pageCount: number;
  marcPath: string;
  hasMarc: boolean;
  /** Things an operator should know that are not failures (no checksum file, no OCR, no MARC). */
  notes: string[];
  timingsMs: { decryptAndExtract: number; verify: number; derivatives: number };
}

/** `33433012345678.tar.gz.gpg` → `33433012345678`. */
export function barcodeFromArchiveName(file: string): string {
  return basename(file).replace(/(\.tar)?(\.gz|\.tgz)?\.(gpg|pgp|asc)$/i, '');
}

/** Decrypt → extract → verify → derivatives. Throws the first stage's error (see errors.ts). */
export async function unpackArchive(opts: {
  archive: string;
  passphrase: string;
  outDir: string;
  barcode?: string;
  limits?: Partial<ExtractLimits>;
  /**
   * 'all' (default) unpacks every file; 'derivative-inputs' stores only page text, XML and
   * checksum.md5, while still checking, hashing and verifying every entry (half the disk writes).
   */
  keep?: 'all' | 'derivative-inputs';
  /** Where openpgp.js decrypts: a worker thread (default, uses a second core) or this thread. */
  decryptThread?: 'worker' | 'main';
}): Promise<UnpackSummary> {
  const barcode = opts.barcode ?? barcodeFromArchiveName(opts.archive);
  assertSafeBarcode(barcode);
  const limits: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS, ...opts.limits };
  await mkdir(opts.outDir, { recursive: true });
  const decryptedPath = join(opts.outDir, `${barcode}.tar.gz`);
  const extractedDir = join(opts.outDir, barcode);

  let t = Date.now();
  const unpacked = await decryptAndExtract(opts.archive, decryptedPath, extractedDir, opts.passphrase, limits, {
    writeOnly: opts.keep === 'derivative-inputs' ? derivativeInputsOnly : undefined,
    decryptThread: opts.decryptThread,
  });
  const tDecrypt = Date.now() - t;

  t = Date.now();
  const checksum = await verifyChecksums(extractedDir, { knownMd5: unpacked.md5 });
  const tVerify = Date.now() - t;

  t = Date.now();
  const derived = await makeDerivatives(extractedDir, barcode, opts.outDir);
  const tDerive = Date.now() - t;

  const notes = [...derived.notes];
  if (!checksum.hadChecksumFile) notes.unshift('The archive has no checksum.md5, so file contents could not be verified.');
  return {
    barcode,
    archive: opts.archive,
    decryptedPath,
    decryptedBytes: unpacked.decryptedBytes,
    extractedDir,
    files: unpacked.files,
    bytes: unpacked.bytes,
    checksum,
    ocrPath: derived.ocrPath,
    pageCount: derived.pageCount,
    marcPath: derived.marcPath,
    hasMarc: derived.hasMarc,
    notes,
    timingsMs: { decryptAndExtract: tDecrypt, verify: tVerify, derivatives: tDerive },
  };
}

/**
 * The board's vocabulary: bucket names and the token each book carries from bucket to bucket.
 * Pure data, no I/O: workflow code imports these names too.
 */

// The bucket names are the stage vocabulary's (common/stages.ts); the board re-exports them.
import { STAGE_BUCKETS, type Bucket, type StageBucket } from '../common/stages';
export { BUCKETS, SIDE_BUCKETS, STAGE_BUCKETS, isBucket, type Bucket, type SideBucket, type StageBucket } from '../common/stages';

/** The stage whose success moves a book into each bucket (`decrypt` brings it to 04_decrypted). */
const STAGE_INTO: Record<StageBucket, string> = {
  '00_available': 'register',
  '01_requested': 'request',
  '02_converted': 'conversion',
  '03_downloaded': 'download',
  '04_decrypted': 'decrypt',
  '05_extracted': 'extract',
  '06_processed': 'process',
  '07_stored': 'store',
};

/**
 * "decrypt failed (in 03_downloaded)" for a TokenError's stage, which is the bucket the book was heading
 * for: the book never reached that bucket, so the words name the stage and the bucket it was in.
 */
export function failedStageWords(stage: StageBucket): string {
  const i = STAGE_BUCKETS.indexOf(stage);
  if (i < 0) return `${String(stage)} failed`;
  return `${STAGE_INTO[stage]} failed${i > 0 ? ` (in ${STAGE_BUCKETS[i - 1]})` : ''}`;
}

/** What went wrong last; kept in the token so `ls failed/` plus `cat` tells an operator why. */
export interface TokenError {
  /** The stage (bucket the book was heading for) that failed. */
  stage: StageBucket;
  message: string;
  /** Machine-readable error type, e.g. `DecryptError`, `GrinNotAllowed`. */
  type?: string;
  at: string;
}

/** The MARC fields a report shows; the full record is in storage (`meta/<barcode>/<barcode>_marc.json`). */
export interface TokenMarc {
  title?: string;
  author?: string;
  /** 008 date 1 (usually the year of publication). */
  date?: string;
}

/** Where a book's objects were stored, at store time (no secrets): storage may change later. */
export interface TokenStoredIn {
  kind: 'local' | 's3';
  bucket?: string;
  prefix?: string;
  root?: string;
  location: string;
}

/** The book's fixity manifest in brief; the manifest itself is stored beside the book. */
export interface TokenFixity {
  /** Storage key of `<barcode>.manifest.json`. */
  manifest: string;
  /** Objects the manifest lists, and their bytes together. */
  objects: number;
  bytes: number;
  /** SHA-256 of the stored decrypted archive (what GRIN sent, decrypted). */
  archiveSha256: string;
  /** When the digests were checked against the store at upload. */
  recordedAt: string;
  /** Set by `verify`: when the stored objects were last re-read, and what it found. */
  verifiedAt?: string;
  verifiedOk?: boolean;
  /** What `verify` found wrong (absent when it found nothing wrong). */
  verifyProblem?: string;
}

/**
 * The token: one small JSON file `<barcode>.json` per book. It never holds secrets.
 * Fields other than barcode/directory/bucket are filled in as the book moves along.
 */
export interface BookToken {
  barcode: string;
  directory: string;
  /** The bucket this token is in (kept in the file too, so a stray copy can be placed). */
  bucket: Bucket;
  /** Free-form detail of where the book is within its stage, e.g. `waiting for disk space`. */
  status?: string;
  workflowId?: string;
  batchId?: string;
  /** Host-specific task queue running this book's file stages. */
  fileQueue?: string;
  /** Local processing folder used for this book's files. */
  processingDir?: string;
  /** Where the book ends up: storage kind plus location (bucket/prefix or path). */
  storage?: string;
  /** ISO timestamp of arrival in each bucket. */
  stages: Partial<Record<Bucket, string>>;
  /**
   * Order of this book's latest conversion request among all of the library's requests (see
   * grin-pacing.ts): GRIN evicts the oldest packages, so how many were requested after this one
   * tells how close its package is to being evicted.
   */
  requestSeq?: number;
  /** GRIN ETag of the encrypted archive (quotes stripped). */
  grinEtag?: string;
  /** Archive file name exactly as GRIN lists it (may carry a `<DIR>_` prefix). */
  grinFilename?: string;
  encryptedBytes?: number;
  decryptedBytes?: number;
  /** SHA-256 of the decrypted archive as decryption wrote it; the upload checks the file against it. */
  decryptedSha256?: string;
  /** MD5 of the same bytes, taken in the same pass: with the SHA-256 and size, the upload needs no digest pass of its own. */
  decryptedMd5?: string;
  extractedFiles?: number;
  extractedBytes?: number;
  /** Files verified against checksum.md5 (absent when the archive had none). */
  checksumVerified?: number;
  /** Files in the archive that checksum.md5 does not list, so not verified. */
  checksumUnlisted?: number;
  pageCount?: number;
  hasMarc?: boolean;
  /** A few MARC fields, for reports and the Web UI (absent in tokens written before they were kept). */
  marc?: TokenMarc;
  /** Storage keys written for this book, by artifact. */
  stored?: Record<string, string>;
  /** The storage the book was stored in (set when it is stored). */
  storedIn?: TokenStoredIn;
  /**
   * Every storage location an upload of this book has started writing to (set before the first
   * byte goes up). One that is not `storedIn` may hold partial copies (storage changed mid-upload).
   */
  uploadedTo?: string[];
  /** Digests of the stored objects, in brief (see TokenFixity). */
  fixity?: TokenFixity;
  attempts?: number;
  lastError?: TokenError;
  updatedAt: string;
}

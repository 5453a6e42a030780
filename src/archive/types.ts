/** Results of the file stages that run on one book's local files. */

/** Bounds on what one archive may unpack to (defaults and meaning: config `limits`, src/config/schema.ts). */
export interface ExtractLimits {
  maxUnpackedBytes: number;
  maxEntries: number;
  /** Unpacked bytes per compressed byte read so far (a decompression bomb far exceeds a real book's ~1). */
  maxExpansionRatio: number;
  /** The ratio is checked only beyond this many unpacked bytes. */
  expansionCheckAfterBytes: number;
}

export interface ExtractResult {
  files: number;
  bytes: number;
}

export interface ChecksumResult {
  /** Files listed in checksum.md5 and verified. */
  verified: number;
  /** False when the archive had no checksum.md5 (noted, not fatal). */
  hadChecksumFile: boolean;
  /** Files in the archive that checksum.md5 does not list (so not checked), relative POSIX paths. */
  unlisted: string[];
}

export interface MarcRecord {
  controlNumber?: string;
  dateType?: string;
  date1?: string;
  date2?: string;
  language?: string;
  lccn?: string;
  lcCallNumbers: string[];
  isbns: string[];
  oclcNumbers: string[];
  title?: string;
  titleRemainder?: string;
  personalAuthor?: string;
  corporateAuthor?: string;
  meetingAuthor?: string;
  subjects: string[];
  genres: string[];
  notes: string[];
}

export interface DerivativesResult {
  ocrPath: string;
  pageCount: number;
  marcPath: string;
  /** False when the archive carried no MARC record; the JSON then says so. */
  hasMarc: boolean;
}

/**
 * What the rest of the pipeline needs from GRIN. Implemented by `client.ts` over HTTP
 * (written from ../shared/grin/PROTOCOL.md); exercised against `devkit/simulator`.
 */

/** Outcome of asking GRIN to convert one barcode (`_process`), one per recorded status string. */
export type ConversionOutcome =
  | { kind: 'requested' } // Success
  | { kind: 'already_converting' } // "Already being converted" / "already ... in process": wait for it
  | { kind: 'already_available' } // "Already available for download"
  | { kind: 'not_allowed'; text: string } // "Not allowed to be downloaded": Google will not release it
  | { kind: 'other_error'; text: string } // "Other error"
  | { kind: 'unknown'; text: string }; // anything else, verbatim

export interface ConvertedEntry {
  barcode: string;
  /** File name exactly as listed, e.g. `32044….tar.gz.gpg` or `PRNC_32044….tar.gz.gpg`. */
  filename: string;
}

export interface FailedEntry {
  barcode: string;
  failedDate?: string;
  info?: string;
  detailedInfo?: string;
}

export interface ArchiveHead {
  etag: string;
  size: number;
}

export interface DownloadProgress {
  /** Bytes on disk so far (including any resumed prefix). */
  bytes: number;
  etag: string;
}

export interface DownloadResult {
  etag: string;
  size: number;
  /** True when a Range request continued an earlier partial file. */
  resumed: boolean;
}

export interface GrinApi {
  /** Every barcode in the directory, in listing order (streamed, text form). */
  listAllBarcodes(): AsyncIterable<string>;
  listConverted(): Promise<ConvertedEntry[]>;
  listInProcess(): Promise<string[]>;
  listFailed(): Promise<FailedEntry[]>;
  /** One request; throws QueueFullError on HTTP 429. */
  requestConversion(barcodes: string[]): Promise<Map<string, ConversionOutcome>>;
  /** HEAD of the archive; null on 404 (not in the converted pool). */
  headArchive(filename: string): Promise<ArchiveHead | null>;
  /**
   * GET the archive into `destPath`. If `destPath` already holds bytes and `expectEtag` is given,
   * continue with a Range request; start over when GRIN's ETag changed. Throws ArchiveNotFoundError on 404.
   */
  downloadArchive(
    filename: string,
    destPath: string,
    opts?: { expectEtag?: string; onProgress?: (p: DownloadProgress) => void; signal?: AbortSignal },
  ): Promise<DownloadResult>;
  /** `_barcode_search` metadata, keyed by barcode, fields keyed by GRIN's header names. */
  barcodeSearch(barcodes: string[]): Promise<Map<string, Record<string, string>>>;
}

/**
 * Which pipeline stage each activity belongs to, and which bucket a book enters when it succeeds:
 * the vocabulary logs (the `stage` field, per-stage files) and metrics (books entering each bucket)
 * share. Pure data.
 */
import type { Bucket } from '../buckets/token';

export const ACTIVITY_STAGE: Record<string, string> = {
  requestConversion: 'request',
  waitForConversion: 'convert',
  checkArchive: 'download',
  claimFileHost: 'download',
  downloadArchive: 'download',
  decryptArchive: 'decrypt',
  extractArchive: 'extract',
  processBook: 'process',
  uploadBook: 'store',
  cleanupBook: 'store',
};

/** The bucket a successful run of these activities has moved the book into. */
export const ACTIVITY_ENTERS: Record<string, Bucket> = {
  requestConversion: '01_requested',
  waitForConversion: '02_converted',
  downloadArchive: '03_downloaded',
  decryptArchive: '04_decrypted',
  extractArchive: '05_extracted',
  processBook: '06_processed',
  // The clean-up moves the token to 07_stored once the upload is verified and local files are gone.
  cleanupBook: '07_stored',
  parkBook: 'failed',
  cancelBook: 'cancelled',
};

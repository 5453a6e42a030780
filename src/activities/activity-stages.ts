/**
 * Which pipeline stage each activity belongs to, and which bucket a book enters when it succeeds:
 * the vocabulary logs (the `stage` field, per-stage files) and metrics (books entering each bucket)
 * share. Pure data.
 */
import type { Bucket } from '../buckets/token';

export const ACTIVITY_STAGE: Record<string, string> = {
  requestConversion: 'request',
  waitForConversion: 'convert',
  watchConversions: 'convert',
  markConverted: 'convert',
  checkArchive: 'download',
  claimFileHost: 'download',
  downloadArchive: 'download',
  decryptArchive: 'decrypt',
  extractArchive: 'extract',
  processBook: 'process',
  uploadBook: 'store',
  cleanupBook: 'store',
  // Joined stages (activities/joined-stages.ts): named by the stage they start with.
  fetchArchive: 'download',
  extractAndProcess: 'extract',
  storeBook: 'store',
};

/** The buckets a successful run of these activities has moved the book into, in order. */
export const ACTIVITY_ENTERS: Record<string, readonly Bucket[]> = {
  requestConversion: ['01_requested'],
  waitForConversion: ['02_converted'],
  markConverted: ['02_converted'],
  downloadArchive: ['03_downloaded'],
  decryptArchive: ['04_decrypted'],
  extractArchive: ['05_extracted'],
  processBook: ['06_processed'],
  // The clean-up moves the token to 07_stored once the upload is verified and local files are gone.
  cleanupBook: ['07_stored'],
  parkBook: ['failed'],
  cancelBook: ['cancelled'],
  fetchArchive: ['03_downloaded'],
  extractAndProcess: ['05_extracted', '06_processed'],
  storeBook: ['07_stored'],
};

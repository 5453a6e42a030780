/**
 * Errors of the archive stages. None of them is worth retrying: the same bytes and the same passphrase
 * give the same result, so the book is parked in `failed` for an operator (hence `retryable = false`).
 * Messages never contain the passphrase.
 */

/** Wrong passphrase, failed integrity check, or data that is not (or no longer) an OpenPGP message. */
export class DecryptError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DecryptError';
  }
}

/** A tar entry that could write outside the book's folder or create something other than a file or folder. */
export class UnsafeArchiveError extends Error {
  readonly retryable = false;
  /** The entry's name as written in the archive. */
  readonly entry: string;
  constructor(entry: string, message: string) {
    super(message);
    this.name = 'UnsafeArchiveError';
    this.entry = entry;
  }
}

/** The archive unpacks to more bytes or more entries than the configured limits (decompression bomb). */
export class ArchiveLimitError extends Error {
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveLimitError';
  }
}

/** Not gzip, a truncated tar, or a tar header that does not parse. */
export class CorruptArchiveError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CorruptArchiveError';
  }
}

/** Files whose MD5 differs from `checksum.md5`, or that it lists but the archive lacks. */
export class ChecksumMismatchError extends Error {
  readonly retryable = false;
  readonly mismatched: string[];
  readonly missing: string[];
  constructor(message: string, mismatched: string[], missing: string[]) {
    super(message);
    this.name = 'ChecksumMismatchError';
    this.mismatched = mismatched;
    this.missing = missing;
  }
}

/** The archive holds no page text at all (no `NNNNNNNN.txt`). */
export class NoOcrTextError extends Error {
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'NoOcrTextError';
  }
}

/** Lists at most `max` names, then says how many more there are, so messages stay readable. */
export function listNames(names: string[], max = 10): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

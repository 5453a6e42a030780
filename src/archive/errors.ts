/**
 * Errors of the archive stages. None of them is worth retrying as it is: the same bytes and the same
 * passphrase give the same result, so the book is parked in `failed` for an operator. Those a
 * damaged transfer could explain (integrity failures) ask for one fresh download first
 * (`redownload`, see PipelineError). Messages never contain the passphrase.
 */
import { PipelineError } from '../common/errors';

/**
 * Wrong passphrase, failed integrity check, or data that is not (or no longer) an OpenPGP message.
 * `damaged`: the bytes may have been hurt in transit (MDC failure, truncated data), so a fresh
 * download may fix it; a wrong passphrase or an unsupported format is not.
 */
export class DecryptError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown; damaged?: boolean }) {
    super(message, { retryable: false, redownload: options?.damaged ?? false, cause: options?.cause });
  }
}

/** A tar entry that could write outside the book's folder or create something other than a file or folder. */
export class UnsafeArchiveError extends PipelineError {
  /** The entry's name as written in the archive. */
  readonly entry: string;
  constructor(entry: string, message: string) {
    super(message, { retryable: false });
    this.entry = entry;
  }
}

/** The archive unpacks to more bytes or more entries than the configured limits (decompression bomb). */
export class ArchiveLimitError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** An output path is already taken (not empty, or a symbolic link): nothing is overwritten or followed. */
export class OutputExistsError extends PipelineError {
  /** For the CLI: this is bad input (exit code 2), not a bad archive. */
  readonly exitCode = 2;
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** Not gzip, a truncated tar, or a tar header that does not parse: a damaged transfer may explain it. */
export class CorruptArchiveError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { retryable: false, redownload: true, cause: options?.cause });
  }
}

/** Files whose MD5 differs from `checksum.md5`, or that it lists but the archive lacks. */
export class ChecksumMismatchError extends PipelineError {
  readonly mismatched: string[];
  readonly missing: string[];
  constructor(message: string, mismatched: string[], missing: string[]) {
    super(message, { retryable: false, redownload: true });
    this.mismatched = mismatched;
    this.missing = missing;
  }
}

/** The archive holds no page text at all (no `NNNNNNNN.txt`). */
export class NoOcrTextError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** Lists at most `max` names, then says how many more there are, so messages stay readable. */
export function listNames(names: string[], max = 10): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** A caller broke this module's contract (an unsafe barcode, no passphrase): the same call fails every time. */
export class ArchiveUsageError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/**
 * The decryption thread died, stalled, or cannot be started: nothing is wrong with the archive, so
 * the stage is tried again on a new thread (with `waitingFor` when only a complete install helps).
 * Also what an unexpected error from inside the thread comes back as, naming its original class.
 */
export class DecryptThreadError extends PipelineError {
  readonly code?: string;
  constructor(message: string, options: { cause?: unknown; code?: string; waitingFor?: string } = {}) {
    super(message, { retryable: true, cause: options.cause, waitingFor: options.waitingFor });
    if (options.code !== undefined) this.code = options.code;
  }
}

/**
 * The failure types the workflows route on or advise about: the `type` of the ApplicationFailure an
 * activity's error becomes (src/activities/failures.ts), or a workflow raises itself. Each value is
 * the error class's name and is recorded in Temporal histories and parked tokens, so a value never
 * changes (test/unit/failure-types.test.ts ties each one to its class). Workflow code imports this
 * module, so it imports nothing (no Node built-ins).
 */
export const FailureType = {
  /** GRIN no longer has the package (it left the converted pool): the book asks GRIN again. */
  ArchiveNotFound: 'ArchiveNotFoundError',
  /** GRIN lost the conversion request: the book asks again. */
  ConversionRequestLost: 'ConversionRequestLost',
  /** GRIN lists the book's conversion as failed. */
  GrinConversionFailed: 'GrinConversionFailed',
  /** The book's local files are gone from its host: a host move. */
  LocalCopyMissing: 'LocalCopyMissingError',
  /** The token file is unreadable: rebuilt by the workflow. */
  TokenFile: 'TokenFileError',
  /** The token is gone from the board: rebuilt by the workflow. */
  BookNotOnBoard: 'BookNotOnBoardError',
  Decrypt: 'DecryptError',
  ChecksumMismatch: 'ChecksumMismatchError',
  CorruptArchive: 'CorruptArchiveError',
  UnsafeArchive: 'UnsafeArchiveError',
  ArchiveLimit: 'ArchiveLimitError',
  NoOcrText: 'NoOcrTextError',
  GrinRefused: 'GrinRefusedError',
  GrinPermission: 'GrinPermissionError',
  /** An error nothing classified (not a PipelineError), retried as transient. */
  Unexpected: 'ActivityError',
} as const;

export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** The errors the board raises for a token that is gone or cannot be read. */
export const LOST_TOKEN_TYPES: readonly string[] = [FailureType.TokenFile, FailureType.BookNotOnBoard];

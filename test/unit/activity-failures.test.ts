/** The one error protocol: each kind of error becomes the ApplicationFailure the workflow and the CLI rely on. */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { failureDetails, isPermanent, toFailure } from '../../src/activities/failures';
import { FaultReporter } from '../../src/activities/waiting';
import { NotConvertedYet, ConversionRequestLost } from '../../src/activities/wait-for-conversion';
import { DiskFullError } from '../../src/activities/disk-space';
import { ArchiveLimitError, ChecksumMismatchError, CorruptArchiveError, DecryptError, UnsafeArchiveError } from '../../src/archive/errors';
import { InvalidBarcodeError } from '../../src/buckets/barcode';
import { PipelineError } from '../../src/common/errors';
import { SecretError } from '../../src/config/secrets';
import {
  ArchiveNotFoundError,
  GrinAuthError,
  GrinHttpError,
  GrinListingError,
  GrinPermissionError,
  GrinRefusedError,
  QueueFullError,
  asGrinError,
} from '../../src/grin/errors';
import { statusError } from '../../src/grin/http';
import { S3StorageError } from '../../src/storage/s3';

const ctx = { endpoint: 'GET /TEST/_converted' };

function s3(code: string, status: number | undefined, retryable: boolean): S3StorageError {
  return new S3StorageError(`S3 PutObject failed: ${code}`, 'PutObject', 'books', 'raw/x', code, status, retryable);
}

interface Expected {
  nonRetryable: boolean;
  benign?: boolean;
  redownload?: boolean;
  waitingFor?: RegExp;
  nextRetryDelayMs?: number;
}

const cases: [string, unknown, Expected][] = [
  // transient, every book waits for it
  ['a login redirect after a refresh', new GrinAuthError(ctx, 'refused'), { nonRetryable: false, waitingFor: /accept our credentials/ }],
  ['403 on the directory', new GrinPermissionError(ctx), { nonRetryable: false, waitingFor: /allow our Google account/ }],
  ['GRIN 503', statusError(ctx, 503), { nonRetryable: false, waitingFor: /GRIN to answer/ }],
  ['GRIN 429 on an archive', statusError(ctx, 429), { nonRetryable: false, waitingFor: /GRIN to answer/ }],
  [
    'a network error',
    asGrinError(Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' }), ctx),
    { nonRetryable: false, waitingFor: /GRIN to answer/ },
  ],
  [
    'a failed shared listing',
    new GrinListingError(ctx, new GrinHttpError(ctx, 'not found', { retryable: false })),
    { nonRetryable: false, waitingFor: /listing/ },
  ],
  ['S3 unreachable', s3('ECONNREFUSED', undefined, true), { nonRetryable: false, waitingFor: /S3 storage .* to answer/ }],
  ['S3 throttling', s3('SlowDown', 503, true), { nonRetryable: false, waitingFor: /S3 storage/ }],
  ['the bucket missing', s3('NoSuchBucket', 404, false), { nonRetryable: false, waitingFor: /bucket s3:\/\/books to exist/ }],
  ['S3 access denied', s3('AccessDenied', 403, false), { nonRetryable: false, waitingFor: /bucket/ }],
  [
    'the disk above the threshold',
    new DiskFullError('/data', 0.97, 0.9, 30),
    { nonRetryable: false, waitingFor: /disk space/, nextRetryDelayMs: 30_000 },
  ],
  [
    'an unreadable passphrase file',
    new SecretError('Cannot read the GPG passphrase from file /x', 'GPG passphrase'),
    { nonRetryable: false, waitingFor: /GPG passphrase/ },
  ],
  // transient without a book-wide wait
  ['a cut body', new GrinHttpError(ctx, 'body cut short', { retryable: true }), { nonRetryable: false }],
  ['an unknown error', new Error('EIO: i/o error'), { nonRetryable: false }],
  // expected, quiet
  ['not converted yet', new NotConvertedYet('B1', 30), { nonRetryable: false, benign: true, nextRetryDelayMs: 30_000 }],
  [
    'the conversion queue full',
    new QueueFullError(ctx, new Map(), ['B1'], 600),
    { nonRetryable: false, benign: true, nextRetryDelayMs: 600_000 },
  ],
  // permanent: the book parks
  ['a wrong passphrase', new DecryptError('the GPG passphrase is wrong'), { nonRetryable: true }],
  ['a hostile archive', new UnsafeArchiveError('../etc/passwd', 'outside'), { nonRetryable: true }],
  ['an over-limit archive', new ArchiveLimitError('too big'), { nonRetryable: true }],
  ['GRIN refusing the book', new GrinRefusedError(ctx, { kind: 'not_allowed', text: 'Not allowed' }), { nonRetryable: true }],
  ['an invalid barcode', new InvalidBarcodeError('a/b'), { nonRetryable: true }],
  ['S3 refusing this request', s3('InvalidArgument', 400, false), { nonRetryable: true }],
  ['a package gone from the pool (the workflow asks again)', new ArchiveNotFoundError(ctx, 'B1.tar.gz.gpg'), { nonRetryable: true }],
  ['a lost conversion request (the workflow asks again)', new ConversionRequestLost('B1'), { nonRetryable: true }],
  // permanent integrity failures: one fresh download first
  ['an MDC failure', new DecryptError('integrity check failed', { damaged: true }), { nonRetryable: true, redownload: true }],
  ['a corrupt gzip', new CorruptArchiveError('not gzip'), { nonRetryable: true, redownload: true }],
  ['a checksum.md5 mismatch', new ChecksumMismatchError('mismatch', ['a'], []), { nonRetryable: true, redownload: true }],
];

describe('toFailure', () => {
  it.each(cases)('%s', (_what, err, expected) => {
    const failure = toFailure(err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(err instanceof Error && err.name !== 'Error' ? err.name : 'ActivityError');
    // An unknown error keeps its message, named as unexpected with its class and attempt (see below).
    if (err instanceof PipelineError) expect(failure.message).toBe(err.message);
    else expect(failure.message).toBe(`unexpected ${(err as Error).name} (attempt 1, retried as transient): ${(err as Error).message}`);
    expect(failure.nonRetryable).toBe(expected.nonRetryable);
    expect(isPermanent(err)).toBe(expected.nonRetryable);
    expect(failure.category).toBe(expected.benign ? ApplicationFailureCategory.BENIGN : undefined);
    expect(failure.nextRetryDelay).toBe(expected.nextRetryDelayMs);
    const details = failureDetails(failure);
    expect(details.redownload ?? false).toBe(expected.redownload ?? false);
    if (expected.waitingFor) expect(details.waitingFor).toMatch(expected.waitingFor);
    else expect(details.waitingFor).toBeUndefined();
  });

  it('names an error nothing classified, with its class, code and attempt, in the message and the details', () => {
    const err = Object.assign(new TypeError('Cannot read properties of undefined'), { code: 'ERR_X' });
    const failure = toFailure(err);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe('unexpected TypeError ERR_X (attempt 1, retried as transient): Cannot read properties of undefined');
    expect(failureDetails(failure).unexpected).toEqual({ name: 'TypeError ERR_X', attempt: 1 });
    // Ours never count as unexpected.
    expect(failureDetails(toFailure(new DecryptError('x'))).unexpected).toBeUndefined();
  });

  it('passes an ApplicationFailure through unchanged', () => {
    const failure = ApplicationFailure.nonRetryable('x', 'Y');
    expect(toFailure(failure)).toBe(failure);
  });
});

describe('FaultReporter', () => {
  it('warns once per interval per kind of fault, then says how many it held back', () => {
    let now = 0;
    const lines: string[] = [];
    const reporter = new FaultReporter({ intervalMs: 60_000, now: () => now, warn: (m) => lines.push(m) });
    for (let book = 0; book < 50; book++) reporter.report('S3StorageError', 'S3 storage to answer again', 'ECONNREFUSED');
    reporter.report('GrinAuthError', 'GRIN to accept our credentials', 'refused');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/waiting for S3 storage to answer again: S3StorageError: ECONNREFUSED$/);
    now = 61_000;
    reporter.report('S3StorageError', 'S3 storage to answer again', 'ECONNREFUSED');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/49 more failure\(s\)/);
  });
});

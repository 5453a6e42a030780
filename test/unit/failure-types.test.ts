/**
 * The failure types the workflows route on are constants (src/common/failure-types.ts), and histories
 * and parked tokens hold their values: each must stay what the error protocol makes of its class.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { toFailure } from '../../src/activities/failures';
import { LocalCopyMissingError } from '../../src/activities/stage-state';
import { ConversionRequestLost, GrinConversionFailed } from '../../src/activities/wait-for-conversion';
import {
  ArchiveLimitError,
  ChecksumMismatchError,
  CorruptArchiveError,
  DecryptError,
  NoOcrTextError,
  UnsafeArchiveError,
} from '../../src/archive/errors';
import { BookNotOnBoardError, TokenFileError } from '../../src/buckets/board';
import { FailureType, type FailureTypeName } from '../../src/common/failure-types';
import { ArchiveNotFoundError, GrinPermissionError, GrinRefusedError } from '../../src/grin/errors';

// A PipelineError's name is its class's name (src/common/errors.ts), and that name is the failure's type.
const classes: Record<Exclude<keyof typeof FailureType, 'Unexpected'>, abstract new (...args: never[]) => Error> = {
  ArchiveNotFound: ArchiveNotFoundError,
  ConversionRequestLost,
  GrinConversionFailed,
  LocalCopyMissing: LocalCopyMissingError,
  TokenFile: TokenFileError,
  BookNotOnBoard: BookNotOnBoardError,
  Decrypt: DecryptError,
  ChecksumMismatch: ChecksumMismatchError,
  CorruptArchive: CorruptArchiveError,
  UnsafeArchive: UnsafeArchiveError,
  ArchiveLimit: ArchiveLimitError,
  NoOcrText: NoOcrTextError,
  GrinRefused: GrinRefusedError,
  GrinPermission: GrinPermissionError,
};

test.each(Object.entries(classes))('FailureType.%s is the type the error protocol gives its class', (key, cls) => {
  expect(FailureType[key as keyof typeof classes]).toBe(cls.name);
});

test('the conversion failures the workflow raises itself match what the activities raise', () => {
  expect(toFailure(new ConversionRequestLost('39015000000001')).type).toBe(FailureType.ConversionRequestLost);
  expect(toFailure(new GrinConversionFailed('failed at GRIN')).type).toBe(FailureType.GrinConversionFailed);
});

test('an error nothing classified becomes the declared unexpected type', () => {
  expect(toFailure(new Error('boom')).type).toBe(FailureType.Unexpected);
});

test('the values old histories and parked tokens hold are unchanged', () => {
  const values: FailureTypeName[] = Object.values(FailureType);
  expect(values.sort()).toEqual([
    'ActivityError',
    'ArchiveLimitError',
    'ArchiveNotFoundError',
    'BookNotOnBoardError',
    'ChecksumMismatchError',
    'ConversionRequestLost',
    'CorruptArchiveError',
    'DecryptError',
    'GrinConversionFailed',
    'GrinPermissionError',
    'GrinRefusedError',
    'LocalCopyMissingError',
    'NoOcrTextError',
    'TokenFileError',
    'UnsafeArchiveError',
  ]);
});

test('workflow code names no failure type as a string', () => {
  const files = readdirSync('src/workflows', { recursive: true }) as string[];
  expect(files).toContain('book.ts');
  for (const file of files.filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(`src/workflows/${file}`, 'utf8');
    for (const value of Object.values(FailureType)) expect(source).not.toContain(`'${value}'`);
  }
});

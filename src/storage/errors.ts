/**
 * Errors of the storage backends other than S3's own refusals (S3StorageError in s3.ts). Each says
 * here whether trying again can help (see PipelineError): a refused key or a file that is not what
 * storage wrote stays wrong on every attempt; a bad setting waits for the operator; a server answer missing a field it
 * always sends is a glitch worth another try.
 */
import { PipelineError } from '../common/errors';

/**
 * The storage settings cannot work (no bucket, no root, no layout template, half a key pair). Every
 * book meets it alike and only the operator can end it, so books wait for the fixed config (and a
 * worker restart) rather than park one by one, as S3 refusals a setting fixes do.
 */
export class StorageConfigError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: true, waitingFor: 'the storage settings to be fixed in the config (then restart the workers)' });
  }
}

/** A key, metadata entry or object size storage refuses: the same request is refused on every attempt. */
export class StorageRefusedError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** What is in storage is not what storage wrote (missing object, odd file, unreadable metadata): an operator must look. */
export class StorageContentError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** The storage server answered without a field it always sends (an upload id, an ETag, a body): asked again, it normally does. */
export class StorageAnswerError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: true, waitingFor: 'the storage server to answer normally again' });
  }
}

/**
 * S3-compatible storage (AWS S3, MinIO, R2, Ceph, moto) over `@aws-sdk/client-s3`.
 *
 * Small files go up in one PutObject with Content-MD5; large ones as a resumable multipart upload
 * that reads each part straight from the file (never the whole file in memory), sends each part with
 * its Content-MD5, reports a checkpoint after every finished part, and on resume asks the server
 * which parts it already has. Every upload is checked afterwards (size, and MD5 where the ETag is
 * one); that trusts the server's answers, so the upload activity also reads the object back and
 * compares digests (`readDigest`, fixity.ts). Some servers do not check Content-MD5 (moto 5).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type BucketLocationConstraint,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { PipelineError } from '../common/errors';
import type { BookStorage, PutOptions, ReadDigestOptions, StoredObject, UploadCheckpoint } from './types';
import { digestStream, type StoredDigest, type StorageIdentity } from './fixity';
import type { StorageConfig } from '../config/types';
import { assertSafeKey, normalizeMetadata } from './layout';
import { StorageAnswerError, StorageConfigError, StorageRefusedError } from './errors';

type S3StorageConfig = Extract<StorageConfig, { kind: 's3' }>;
import { MAX_PARTS, MIN_PART_SIZE, MULTIPART_THRESHOLD, choosePartSize, partCount } from './part-size';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The config's S3 settings (see `S3StorageConfig`), with credentials already read from their sources. */
export interface S3StorageOptions extends Pick<
  S3StorageConfig,
  'bucket' | 'prefix' | 'region' | 'endpoint' | 'forcePathStyle' | 'checksums'
> {
  /** Explicit credentials; without them the SDK's default provider chain is used. */
  credentials?: S3Credentials;
  /** Parts uploaded at once per multipart upload. */
  partsInFlight: number;
  /**
   * The AWS SDK's own retries (its default, 3 attempts) on requests without a streamed body. Off
   * (one attempt) in the worker: Temporal's activity retry policy is its one retry layer. Default on.
   */
  sdkRetries?: boolean;
}

/**
 * Faults of the whole bucket rather than of one upload: it is missing, or our credentials or
 * region are refused. Every book would hit them, and only an operator can fix them, so books wait
 * for them (transient, loudly) instead of parking; an upload is not retried within its attempt.
 */
const BUCKET_FAULT_CODES = new Set([
  'NoSuchBucket',
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'AccountProblem',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
]);

/** Local errors (reading the file to upload, an abort) that say nothing about the S3 server. */
const LOCAL_CODES = new Set(['ENOENT', 'EACCES', 'EISDIR', 'EMFILE', 'AbortError']);

/**
 * An S3 failure that names the operation, bucket, key and S3 error code (never credentials).
 * Transient (`retryable`) for network trouble, throttling, 5xx and bucket faults; permanent for
 * other refusals of this request (a 4xx that will repeat).
 */
export class S3StorageError extends PipelineError {
  /** The bucket itself is missing or refuses us: retried by Temporal, never within an attempt. */
  readonly bucketFault: boolean;

  constructor(
    message: string,
    readonly operation: string,
    readonly bucket: string,
    readonly key: string | undefined,
    readonly code: string,
    readonly httpStatus: number | undefined,
    retryable: boolean,
    /** The config setting that makes this refusal go away, when one does (e.g. `storage.checksums: when_required`). */
    readonly fixedBySetting?: string,
  ) {
    const bucketFault = BUCKET_FAULT_CODES.has(code) || httpStatus === 403 || httpStatus === 301;
    const unreachable =
      !bucketFault &&
      retryable &&
      (httpStatus === undefined ? !LOCAL_CODES.has(code) : httpStatus >= 500 || httpStatus === 429 || httpStatus === 408);
    // A refusal a setting fixes hits every book alike: books wait for the operator, they do not park.
    super(message, {
      retryable: retryable || bucketFault || fixedBySetting !== undefined,
      waitingFor: fixedBySetting
        ? `the setting ${fixedBySetting} in the workers' config (this S3 server refuses the current one); restart the workers after changing it`
        : bucketFault
          ? `the storage bucket s3://${bucket} to exist and accept our credentials (check storage.bucket, region and the S3 keys)`
          : unreachable
            ? `S3 storage (s3://${bucket}) to answer again`
            : undefined,
    });
    this.bucketFault = bucketFault;
  }

  /** Retried by Temporal (a person may fix it), never again within one attempt (it would only repeat). */
  get waitsForOperator(): boolean {
    return this.bucketFault || this.fixedBySetting !== undefined;
  }
}

/**
 * True when trying again may help (network trouble, throttling, 5xx, an interrupted attempt).
 * False for errors that will repeat (access denied, no such bucket, bad request): the caller should
 * give up, and a multipart upload is aborted.
 */
export function isRetryableStorageError(err: unknown): boolean {
  if (err instanceof S3StorageError) return err.retryable;
  return classify(err).retryable;
}

interface PartDone {
  partNumber: number;
  etag: string;
  size: number;
  checksumCRC32?: string;
}

interface MultipartState {
  uploadId: string;
  partSize: number;
  useCrc32: boolean;
  done: Map<number, PartDone>;
}

const RETRYABLE_4XX_CODES = new Set([
  'RequestTimeout',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestTimeTooSkewed',
  'ExpiredToken',
  'TokenRefreshRequired',
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  'PartChecksumMismatch',
]);

export class S3Storage implements BookStorage {
  readonly location: string;
  readonly identity: StorageIdentity;
  /** Client for everything except streamed uploads (SDK retries as `sdkRetries` says). */
  readonly client: S3Client;
  /**
   * Client for streamed bodies (PutObject from a file, UploadPart). The SDK cannot rewind a stream
   * to retry, so its retries are off here: a failed transfer fails the activity, whose retry sends
   * the file again (a multipart upload from its checkpoint) with a fresh stream.
   */
  readonly transferClient: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly region: string;
  private readonly checksums: 'when_supported' | 'when_required';
  private readonly partsInFlight: number;
  private readonly secrets: string[];

  constructor(opts: S3StorageOptions) {
    if (!opts.bucket) throw new StorageConfigError('S3 storage needs a bucket name (storage.bucket in the config)');
    if (!Number.isInteger(opts.partsInFlight) || opts.partsInFlight < 1) {
      throw new StorageConfigError(`S3 storage: partsInFlight must be a whole number >= 1, got ${opts.partsInFlight}`);
    }
    this.bucket = opts.bucket;
    const trimmed = opts.prefix.replace(/^\/+/, '');
    this.prefix = trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
    if (this.prefix) assertSafeKey(this.prefix.replace(/\/$/, ''), 'S3 prefix');
    this.region = opts.region;
    this.checksums = opts.checksums;
    this.partsInFlight = opts.partsInFlight;
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.identity = { kind: 's3', bucket: this.bucket, prefix: this.prefix, location: this.location };
    this.secrets = [opts.credentials?.secretAccessKey, opts.credentials?.sessionToken].filter(
      (s): s is string => typeof s === 'string' && s.length >= 4,
    );
    const checksumMode = opts.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    const base: S3ClientConfig = {
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      requestChecksumCalculation: checksumMode,
      responseChecksumValidation: checksumMode,
      credentials: opts.credentials,
      // Without timeouts a stalled connection would hang the upload forever.
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    };
    this.client = new S3Client(opts.sdkRetries === false ? { ...base, maxAttempts: 1 } : base);
    this.transferClient = new S3Client({ ...base, maxAttempts: 1 });
  }

  /** The object key on the server for a storage key. */
  fullKey(key: string): string {
    assertSafeKey(key);
    return this.prefix + key;
  }

  /** Every key under the prefix (prefix removed), page by page (reconcile's orphan check). */
  async *listKeys(): AsyncIterable<string> {
    let ContinuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix || undefined, ContinuationToken }),
        );
      } catch (err) {
        throw this.wrap('ListObjectsV2', undefined, err);
      }
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key.slice(this.prefix.length);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async head(key: string): Promise<StoredObject | null> {
    const fullKey = this.fullKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      return { size: out.ContentLength ?? 0, metadata: metadataFromServer(out.Metadata) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap('HeadObject', fullKey, err);
    }
  }

  async getBytes(key: string): Promise<Buffer> {
    const fullKey = this.fullKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      if (!out.Body) throw new StorageAnswerError('response has no body');
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (err) {
      throw this.wrap('GetObject', fullKey, err);
    }
  }

  async readDigest(key: string, opts: ReadDigestOptions = {}): Promise<StoredDigest | null> {
    const fullKey = this.fullKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }), { abortSignal: opts.signal });
      if (!out.Body) throw new StorageAnswerError(`GetObject ${fullKey}: the answer has no body`);
      return await digestStream(out.Body as Readable, { onBytes: opts.onBytes, md5: opts.md5 });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap('GetObject', fullKey, err);
    }
  }

  async putBytes(data: Buffer | string, key: string, opts: PutOptions = {}): Promise<StoredObject> {
    const fullKey = this.fullKey(key);
    const metadata = metadataForServer(opts.metadata);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const md5 = createHash('md5').update(bytes).digest();
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: fullKey,
          Body: bytes,
          ContentLength: bytes.length,
          ContentMD5: md5.toString('base64'),
          ContentType: opts.contentType,
          Metadata: metadata,
        }),
        { abortSignal: opts.signal },
      );
    } catch (err) {
      throw this.wrap('PutObject', fullKey, err);
    }
    return this.verifyStored(key, { size: bytes.length, md5: md5.toString('hex') });
  }

  async putFile(localPath: string, key: string, opts: PutOptions = {}): Promise<StoredObject> {
    const fullKey = this.fullKey(key);
    const metadata = metadataForServer(opts.metadata);
    const size = (await stat(localPath)).size;
    if (size < MULTIPART_THRESHOLD) {
      // A checkpoint for a file that is now small belongs to an upload we will not finish.
      if (opts.resumeFrom) await this.abortUpload(opts.resumeFrom).catch(() => undefined);
      const md5 = opts.md5 ?? (await md5OfRange(localPath, 0, size));
      await this.once('PutObject', fullKey, opts.signal, () =>
        this.transferClient.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: fullKey,
            Body: size > 0 ? createReadStream(localPath) : Buffer.alloc(0),
            ContentLength: size,
            ContentMD5: Buffer.from(md5, 'hex').toString('base64'),
            ContentType: opts.contentType,
            Metadata: metadata,
          }),
          { abortSignal: opts.signal },
        ),
      );
      return this.verifyStored(key, { size, md5 });
    }
    await this.putMultipart(localPath, key, size, metadata, opts);
    return this.verifyStored(key, { size });
  }

  /** Removes one object: check-config's probe, a copy that failed its fixity check, a cancelled book's objects. */
  async delete(key: string): Promise<void> {
    const fullKey = this.fullKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fullKey })).catch((err: unknown) => {
      throw this.wrap('DeleteObject', fullKey, err);
    });
  }

  async abortUpload(checkpoint: UploadCheckpoint): Promise<void> {
    const fullKey = this.fullKey(checkpoint.key);
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, UploadId: checkpoint.uploadId }));
    } catch (err) {
      if (errorCode(err) === 'NoSuchUpload') return; // already gone: the goal is reached
      throw this.wrap('AbortMultipartUpload', fullKey, err);
    }
  }

  /**
   * Check what the server holds under `key`: its size must equal `expected.size`, and when `md5` is
   * given and the ETag is a plain MD5 (single PUT, no KMS/customer-key encryption), they must match.
   */
  async verifyStored(key: string, expected: { size: number; md5?: string }): Promise<StoredObject> {
    const fullKey = this.fullKey(key);
    let out;
    try {
      out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }));
    } catch (err) {
      if (isNotFound(err)) {
        throw new S3StorageError(
          `Upload verification failed for s3://${this.bucket}/${fullKey}: the object is not there after upload`,
          'HeadObject',
          this.bucket,
          fullKey,
          'NotFound',
          404,
          true,
        );
      }
      throw this.wrap('HeadObject', fullKey, err);
    }
    const storedSize = out.ContentLength ?? -1;
    if (storedSize !== expected.size) {
      throw new S3StorageError(
        `Upload verification failed for s3://${this.bucket}/${fullKey}: stored size ${storedSize} bytes, local file ${expected.size} bytes`,
        'HeadObject',
        this.bucket,
        fullKey,
        'SizeMismatch',
        undefined,
        true,
      );
    }
    const etag = plainMd5Etag(out.ETag, out.ServerSideEncryption, out.SSECustomerAlgorithm);
    if (expected.md5 && etag && etag !== expected.md5.toLowerCase()) {
      throw new S3StorageError(
        `Upload verification failed for s3://${this.bucket}/${fullKey}: stored MD5 (ETag) ${etag}, local MD5 ${expected.md5}`,
        'HeadObject',
        this.bucket,
        fullKey,
        'ChecksumMismatch',
        undefined,
        true,
      );
    }
    return { size: storedSize, metadata: metadataFromServer(out.Metadata) };
  }

  /** Creates the bucket unless it exists (tests, demo, first-time setup). */
  async createBucketIfMissing(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (!isNotFound(err) && errorCode(err) !== 'NoSuchBucket') throw this.wrap('HeadBucket', undefined, err);
    }
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          CreateBucketConfiguration:
            this.region && this.region !== 'us-east-1' ? { LocationConstraint: this.region as BucketLocationConstraint } : undefined,
        }),
      );
    } catch (err) {
      if (errorCode(err) === 'BucketAlreadyOwnedByYou') return;
      throw this.wrap('CreateBucket', undefined, err);
    }
  }

  // ---- multipart ----

  private async putMultipart(
    localPath: string,
    key: string,
    size: number,
    metadata: Record<string, string>,
    opts: PutOptions,
  ): Promise<void> {
    const fullKey = this.fullKey(key);
    const state =
      (opts.resumeFrom ? await this.resumeState(opts.resumeFrom, key, localPath, size) : null) ??
      (await this.startMultipart(fullKey, size, metadata, opts.contentType));
    const checkpoint = (): UploadCheckpoint => ({
      key,
      location: this.location,
      uploadId: state.uploadId,
      partSize: state.partSize,
      parts: [...state.done.values()]
        .sort((a, b) => a.partNumber - b.partNumber)
        .map(({ partNumber, etag, size: partBytes }) => ({ partNumber, etag, size: partBytes })),
    });
    // Report the upload id before any part, so even a crash during part 1 can be resumed or aborted.
    opts.onCheckpoint?.(checkpoint());
    await this.abortOtherUploads(fullKey, state.uploadId);

    try {
      await this.uploadMissingParts(localPath, fullKey, size, state, opts.signal, () => opts.onCheckpoint?.(checkpoint()));
      const parts = [...state.done.values()].sort((a, b) => a.partNumber - b.partNumber);
      await this.client
        .send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: fullKey,
            UploadId: state.uploadId,
            MultipartUpload: {
              Parts: parts.map((p) => ({
                PartNumber: p.partNumber,
                ETag: p.etag,
                ...(state.useCrc32 && p.checksumCRC32 ? { ChecksumCRC32: p.checksumCRC32 } : {}),
              })),
            },
          }),
          { abortSignal: opts.signal },
        )
        .catch((err: unknown) => {
          throw this.wrap('CompleteMultipartUpload', fullKey, err);
        });
    } catch (err) {
      // Interruptions (abort signal, crash in a callback, network) leave the upload for a resume;
      // errors that will only repeat give it up so the server does not keep orphaned parts.
      if (err instanceof S3StorageError && !err.retryable) {
        await this.abortUpload(checkpoint()).catch(() => undefined);
      }
      throw err;
    }
  }

  /**
   * Only one upload of a key is ever wanted: any other one still open was left by an attempt that
   * died before its checkpoint reached Temporal, and nobody will resume it. Best effort (the bucket's
   * lifecycle rule for incomplete uploads is the backstop).
   */
  private async abortOtherUploads(fullKey: string, keep: string): Promise<void> {
    const out = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: fullKey })).catch(() => undefined);
    const others = (out?.Uploads ?? []).filter((u) => u.Key === fullKey && u.UploadId && u.UploadId !== keep);
    await Promise.all(
      others.map((u) =>
        this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, UploadId: u.UploadId }))
          .catch(() => undefined),
      ),
    );
  }

  private async startMultipart(
    fullKey: string,
    size: number,
    metadata: Record<string, string>,
    contentType: string | undefined,
  ): Promise<MultipartState> {
    const useCrc32 = this.checksums === 'when_supported';
    try {
      const out = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: fullKey,
          Metadata: metadata,
          ContentType: contentType,
          // Declared up front: servers reject part checksums the upload was not created with.
          ...(useCrc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
        }),
      );
      if (!out.UploadId) throw new StorageAnswerError('server returned no UploadId');
      return { uploadId: out.UploadId, partSize: choosePartSize(size), useCrc32, done: new Map() };
    } catch (err) {
      throw this.wrap('CreateMultipartUpload', fullKey, err);
    }
  }

  /**
   * Continue an upload from a checkpoint. The server's part list wins over the checkpoint; a part
   * is kept only if its size and (where the ETag is an MD5) content match the local file.
   * Returns null when the upload no longer exists or cannot be continued.
   */
  private async resumeState(cp: UploadCheckpoint, key: string, localPath: string, size: number): Promise<MultipartState | null> {
    if (cp.key !== key) {
      throw new StorageRefusedError(`Cannot resume upload ${cp.uploadId}: its checkpoint is for key ${cp.key}, not ${key}`);
    }
    const count = partCount(size, cp.partSize);
    if (!Number.isInteger(cp.partSize) || cp.partSize < MIN_PART_SIZE || count > MAX_PARTS) {
      await this.abortUpload(cp).catch(() => undefined);
      return null;
    }
    const fullKey = this.fullKey(key);
    let listed: { parts: PartDone[]; useCrc32: boolean };
    try {
      listed = await this.listParts(fullKey, cp.uploadId);
    } catch (err) {
      if (errorCode(err) === 'NoSuchUpload' || isNotFound(err)) return null;
      throw this.wrap('ListParts', fullKey, err);
    }
    const done = new Map<number, PartDone>();
    for (const part of listed.parts) {
      if (part.partNumber > count) continue;
      const start = (part.partNumber - 1) * cp.partSize;
      if (part.size !== Math.min(cp.partSize, size - start)) continue;
      const etag = plainMd5Etag(part.etag);
      if (etag && etag !== (await md5OfRange(localPath, start, part.size))) continue;
      done.set(part.partNumber, part);
    }
    return { uploadId: cp.uploadId, partSize: cp.partSize, useCrc32: listed.useCrc32, done };
  }

  private async listParts(fullKey: string, uploadId: string): Promise<{ parts: PartDone[]; useCrc32: boolean }> {
    const parts: PartDone[] = [];
    let marker: string | undefined;
    let useCrc32 = false;
    for (;;) {
      const out = await this.client.send(
        new ListPartsCommand({ Bucket: this.bucket, Key: fullKey, UploadId: uploadId, PartNumberMarker: marker }),
      );
      useCrc32 = out.ChecksumAlgorithm === 'CRC32';
      for (const p of out.Parts ?? []) {
        if (p.PartNumber === undefined || !p.ETag || p.Size === undefined) continue;
        parts.push({ partNumber: p.PartNumber, etag: p.ETag, size: p.Size, checksumCRC32: p.ChecksumCRC32 });
      }
      if (!out.IsTruncated || !out.NextPartNumberMarker || out.NextPartNumberMarker === marker) break;
      marker = out.NextPartNumberMarker;
    }
    return { parts, useCrc32 };
  }

  private async uploadMissingParts(
    localPath: string,
    fullKey: string,
    size: number,
    state: MultipartState,
    signal: AbortSignal | undefined,
    afterPart: () => void,
  ): Promise<void> {
    const missing: number[] = [];
    for (let n = 1; n <= partCount(size, state.partSize); n++) if (!state.done.has(n)) missing.push(n);

    // The first failure stops the others: parts still queued are skipped, those in flight cancelled.
    const stop = new AbortController();
    const onOuterAbort = () => stop.abort(signal?.reason);
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (signal?.aborted) onOuterAbort(); // cancelled already: its 'abort' event will not come again
    let firstError: unknown;
    const limit = pLimit(this.partsInFlight);
    try {
      if (signal?.aborted) onOuterAbort();
      await Promise.all(
        missing.map((partNumber) =>
          limit(async () => {
            if (stop.signal.aborted) return;
            try {
              const part = await this.uploadPart(localPath, fullKey, size, state, partNumber, stop.signal);
              state.done.set(partNumber, part);
              afterPart();
            } catch (err) {
              if (firstError === undefined) {
                firstError = err;
                stop.abort(err);
              }
            }
          }),
        ),
      );
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
    }
    if (firstError !== undefined) throw firstError;
    if (stop.signal.aborted) throw this.abortedError('UploadPart', fullKey);
  }

  private async uploadPart(
    localPath: string,
    fullKey: string,
    size: number,
    state: MultipartState,
    partNumber: number,
    signal: AbortSignal,
  ): Promise<PartDone> {
    const start = (partNumber - 1) * state.partSize;
    const length = Math.min(state.partSize, size - start);
    // The part's MD5 goes ahead of it (Content-MD5), so the server itself refuses a part damaged on the way.
    const sentMd5 = await md5OfRange(localPath, start, length);
    return this.once(`UploadPart ${partNumber}`, fullKey, signal, async () => {
      const body = length > 0 ? createReadStream(localPath, { start, end: start + length - 1 }) : Readable.from([]);
      const out = await this.transferClient.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: fullKey,
          UploadId: state.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: length,
          ContentMD5: Buffer.from(sentMd5, 'hex').toString('base64'),
          ...(state.useCrc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
        }),
        { abortSignal: signal },
      );
      if (!out.ETag) throw new StorageAnswerError(`server returned no ETag for part ${partNumber}`);
      const etag = plainMd5Etag(out.ETag, out.ServerSideEncryption, out.SSECustomerAlgorithm);
      // (A file that changed while it was sent is caught by the read-back against the file's digest.)
      if (etag && etag !== sentMd5) {
        throw new S3StorageError(
          `S3 UploadPart ${partNumber} for s3://${this.bucket}/${fullKey}: server MD5 ${etag} differs from the bytes sent (${sentMd5})`,
          'UploadPart',
          this.bucket,
          fullKey,
          'PartChecksumMismatch',
          undefined,
          true,
        );
      }
      return { partNumber, etag: out.ETag, size: length, checksumCRC32: out.ChecksumCRC32 };
    });
  }

  // ---- errors and retries ----

  /**
   * Runs one streamed transfer once. A failure is classified (S3StorageError, retryable or not) and
   * thrown: Temporal's retry of the activity is the one retry layer, and a multipart upload resumes
   * from its heartbeated checkpoint with fresh file streams.
   */
  private async once<T>(operation: string, fullKey: string, signal: AbortSignal | undefined, send: () => Promise<T>): Promise<T> {
    if (signal?.aborted) throw this.abortedError(operation, fullKey);
    try {
      return await send();
    } catch (err) {
      throw this.wrap(operation, fullKey, err);
    }
  }

  private abortedError(operation: string, fullKey: string): S3StorageError {
    return new S3StorageError(
      `S3 ${operation} for s3://${this.bucket}/${fullKey} was interrupted (abort signal)`,
      operation,
      this.bucket,
      fullKey,
      'AbortError',
      undefined,
      true,
    );
  }

  private wrap(operation: string, fullKey: string | undefined, err: unknown): S3StorageError {
    if (err instanceof S3StorageError) return err;
    const { code, status, retryable } = classify(err);
    const where = fullKey === undefined ? `s3://${this.bucket}` : `s3://${this.bucket}/${fullKey}`;
    let detail = err instanceof Error ? err.message : String(err);
    for (const secret of this.secrets) detail = detail.split(secret).join('[redacted]');
    const statusText = status === undefined ? '' : ` (HTTP ${status})`;
    const fix = this.checksums === 'when_supported' && refusesStreamedChecksums(code, status, detail) ? CHECKSUMS_FIX : undefined;
    const hint = fix ? `. This S3 server does not take the AWS SDK's streamed uploads with checksums: set ${fix} in the config` : '';
    return new S3StorageError(
      `S3 ${operation} failed for ${where}: ${code}${statusText}${detail && detail !== code ? `: ${detail}` : ''}${hint}`,
      operation,
      this.bucket,
      fullKey,
      code,
      status,
      retryable,
      fix,
    );
  }
}

/** The setting that makes the SDK send plain uploads (Content-Length, Content-MD5) instead of streamed, checksummed ones. */
const CHECKSUMS_FIX = 'storage.checksums: when_required';

/**
 * True for a refusal of the SDK's default upload form (chunked body with a trailing checksum, no
 * Content-Length): `rclone serve s3` answers 411 MissingContentLength; other S3-compatible servers
 * name the checksum headers or the streaming payload they do not implement.
 */
export function refusesStreamedChecksums(code: string, status: number | undefined, detail: string): boolean {
  if (status === 411 || code === 'MissingContentLength') return true;
  if (status === undefined || status < 400 || status >= 600) return false;
  // A checksum that did not match is damage in transit (retried), not a form the server refuses.
  if (code === 'BadDigest' || /Mismatch$/.test(code)) return false;
  return /x-amz-checksum|x-amz-trailer|x-amz-sdk-checksum|aws-chunked|STREAMING-UNSIGNED-PAYLOAD-TRAILER/i.test(detail);
}

function classify(err: unknown): { code: string; status: number | undefined; retryable: boolean } {
  const e = err as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  const status = e?.$metadata?.httpStatusCode;
  const code = e?.Code ?? (typeof e?.code === 'string' ? e.code : undefined) ?? e?.name ?? 'UnknownError';
  let retryable: boolean;
  if (e?.$retryable) retryable = true;
  else if (status !== undefined && status >= 400 && status < 500) {
    retryable = status === 408 || status === 429 || RETRYABLE_4XX_CODES.has(code);
  } else retryable = true; // 5xx, network, timeouts, aborts, local read errors: another attempt may work
  return { code, status, retryable };
}

function errorCode(err: unknown): string | undefined {
  const e = err as { name?: string; Code?: string };
  return e?.Code ?? e?.name;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.$metadata?.httpStatusCode === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey';
}

/**
 * The MD5 in an ETag, or undefined when the ETag is not one (multipart "-N" ETags, or objects
 * encrypted with KMS or a customer key, whose ETags are not the MD5 of the content).
 */
function plainMd5Etag(etag: string | undefined, sse?: string, sseCustomerAlgorithm?: string): string | undefined {
  if (!etag || sseCustomerAlgorithm || (sse && sse !== 'AES256')) return undefined;
  const m = /^"?([0-9a-fA-F]{32})"?$/.exec(etag);
  return m ? m[1].toLowerCase() : undefined;
}

/** Metadata as read back: names lower-case with '_' (see `normalizeMetadata`). */
function metadataFromServer(meta: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta ?? {})) out[k.toLowerCase().replace(/-/g, '_')] = v;
  return out;
}

/** Metadata as sent: '_' travels as '-', since some proxies drop header names containing '_'. */
function metadataForServer(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(normalizeMetadata(metadata))) out[k.replace(/_/g, '-')] = v;
  return out;
}

async function md5OfRange(path: string, start: number, length: number): Promise<string> {
  const hash = createHash('md5');
  if (length > 0) {
    for await (const chunk of createReadStream(path, { start, end: start + length - 1 })) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

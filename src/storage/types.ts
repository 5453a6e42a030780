import type { StoredDigest, StorageIdentity } from './fixity';

/**
 * Where finished books go. Implementations: local filesystem (`local.ts`) and S3-compatible (`s3.ts`).
 * Keys are relative ("raw/<barcode>/<barcode>.tar.gz"); the S3 prefix or local root is the
 * implementation's business.
 */

export interface StoredObject {
  size: number;
  /** User metadata (S3 x-amz-meta-*, or a sidecar for local storage). Keys lower-case. */
  metadata: Record<string, string>;
}

/** Resumable multipart state; heartbeated by the upload activity so a retry continues it. */
export interface UploadCheckpoint {
  key: string;
  /** The storage's location (bucket and prefix): an upload id means nothing to another one. Absent in older checkpoints. */
  location?: string;
  uploadId: string;
  partSize: number;
  parts: { partNumber: number; etag: string; size: number }[];
}

export interface PutOptions {
  metadata?: Record<string, string>;
  contentType?: string;
  /** Continue this multipart upload instead of starting a new one. */
  resumeFrom?: UploadCheckpoint;
  /** Called after each finished part, with everything needed to resume. */
  onCheckpoint?: (c: UploadCheckpoint) => void;
  signal?: AbortSignal;
  /** Hex MD5 of the whole file when the caller already has it (sent as Content-MD5 of a single PUT). */
  md5?: string;
}

export interface BookStorage {
  /** Human-readable location, e.g. `s3://bucket/prefix` or `/data/books`. */
  readonly location: string;
  /** Kind, bucket/root and prefix, for the token and the fixity manifest (no secrets). */
  readonly identity: StorageIdentity;
  head(key: string): Promise<StoredObject | null>;
  /** Upload a local file; returns the stored size after verifying it. `opts.md5` saves reading it for Content-MD5. */
  putFile(localPath: string, key: string, opts?: PutOptions): Promise<StoredObject>;
  putBytes(data: Buffer | string, key: string, opts?: PutOptions): Promise<StoredObject>;
  /** Read back a whole (small) object; tests and verification only. */
  getBytes(key: string): Promise<Buffer>;
  /**
   * Read the object back in full, streaming, and hash it (SHA-256; MD5 too when asked): the only
   * answer about its content that does not trust the server's own metadata. Null when there is no such object.
   */
  readDigest(key: string, opts?: ReadDigestOptions): Promise<StoredDigest | null>;
  /** Remove an object (a copy that failed its fixity check, objects of a cancelled book); absent is fine. */
  delete(key: string): Promise<void>;
  /** Abort a multipart upload that is being given up (no-op for local storage). */
  abortUpload(checkpoint: UploadCheckpoint): Promise<void>;
  /** Every stored key (relative, as given to put), for `reconcile`'s orphan check. */
  listKeys?(): AsyncIterable<string>;
}

export interface ReadDigestOptions {
  signal?: AbortSignal;
  /** Also take the MD5 (SHA-256 and size decide equality; MD5 costs more CPU than SHA-256). */
  md5?: boolean;
  /** Called with each chunk's size as it is read; awaited, so a caller can pace the reading. */
  onBytes?: (bytes: number) => void | Promise<void>;
}

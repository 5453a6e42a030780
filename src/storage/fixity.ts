/**
 * Content digests of a book's bytes (node:crypto), and the fixity manifest that records them.
 *
 * Integrity is decided on digests computed from the bytes themselves: MD5 (what S3 checks in
 * Content-MD5, and what checksum.md5 uses) and SHA-256 (the record a preservation repository keeps).
 * Sizes, ETags and metadata never stand in for them. One streaming pass computes both.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { PipelineError } from '../common/errors';
import { StorageContentError } from './errors';
import type { BookStorage } from './types';

export interface ContentDigest {
  size: number;
  md5: string;
  sha256: string;
}

/** What reading an object back gives: size and SHA-256, and MD5 when it was asked for. */
export interface StoredDigest {
  size: number;
  sha256: string;
  md5?: string;
}

/** One stored object as the manifest records it. */
export interface ManifestEntry extends ContentDigest {
  key: string;
  /** What the object is: archive, ocr, marc, token. */
  artifact: string;
}

/** Where a book was stored, named without secrets. */
export interface StorageIdentity {
  kind: 'local' | 's3';
  /** S3 bucket (kind s3). */
  bucket?: string;
  /** Object key prefix (kind s3), '' for none. */
  prefix?: string;
  /** Root folder (kind local). */
  root?: string;
  /** `s3://bucket/prefix` or the local root. */
  location: string;
}

/** `<barcode>.manifest.json`, stored beside the book: every object written for it with its digests. */
export interface FixityManifest {
  version: 1;
  barcode: string;
  storage: StorageIdentity;
  createdAt: string;
  objects: ManifestEntry[];
}

/** Hashes what passes (SHA-256, and MD5 unless told not to), counting bytes; `digest()` once the stream has ended. */
export class Digester {
  private readonly md5: Hash | undefined;
  private readonly sha256 = createHash('sha256');
  private size = 0;

  constructor(withMd5 = true) {
    this.md5 = withMd5 ? createHash('md5') : undefined;
  }

  update(chunk: Buffer): void {
    this.md5?.update(chunk);
    this.sha256.update(chunk);
    this.size += chunk.length;
  }

  digest(): StoredDigest {
    return { size: this.size, sha256: this.sha256.digest('hex'), ...(this.md5 ? { md5: this.md5.digest('hex') } : {}) };
  }
}

/**
 * The digests of a stream in one pass: SHA-256 always, MD5 when `md5` (default false: MD5 is the
 * slower of the two, and size plus SHA-256 decide equality). `onBytes` is awaited after each chunk.
 */
export async function digestStream(
  source: Readable | AsyncIterable<Buffer | Uint8Array>,
  opts: { md5?: boolean; onBytes?: (bytes: number) => void | Promise<void> } = {},
): Promise<StoredDigest> {
  const d = new Digester(!!opts.md5);
  for await (const chunk of source) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    d.update(bytes);
    if (opts.onBytes) await opts.onBytes(bytes.length);
  }
  return d.digest();
}

/** MD5 and SHA-256 of a local file in one pass (what the manifest records). */
export async function digestFile(path: string): Promise<ContentDigest> {
  return (await digestStream(createReadStream(path, { highWaterMark: 1024 * 1024 }), { md5: true })) as ContentDigest;
}

export function digestBytes(data: Buffer | string): ContentDigest {
  const d = new Digester(true);
  d.update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  return d.digest() as ContentDigest;
}

/** True when size and SHA-256 agree (and MD5, when both sides have it). */
export function sameContent(expected: ContentDigest, found: StoredDigest): boolean {
  return expected.size === found.size && expected.sha256 === found.sha256 && (found.md5 === undefined || expected.md5 === found.md5);
}

/** What differs, for error messages and reports. */
export function describeDifference(expected: ContentDigest, found: StoredDigest): string {
  const parts: string[] = [];
  if (expected.size !== found.size) parts.push(`size ${expected.size} bytes expected, ${found.size} stored`);
  if (expected.sha256 !== found.sha256) parts.push(`SHA-256 ${expected.sha256} expected, ${found.sha256} stored`);
  if (found.md5 !== undefined && expected.md5 !== found.md5) parts.push(`MD5 ${expected.md5} expected, ${found.md5} stored`);
  return parts.join('; ') || 'no difference';
}

/** The manifest's key, beside the token copy: `meta/<barcode>/<barcode>.token.json` → `meta/<barcode>/<barcode>.manifest.json`. */
export function manifestKeyFor(tokenKey: string): string {
  for (const suffix of ['.token.json', '.json']) {
    if (tokenKey.endsWith(suffix)) return `${tokenKey.slice(0, -suffix.length)}.manifest.json`;
  }
  return `${tokenKey}.manifest.json`;
}

/** Parses and checks a manifest read back from storage; the message names the key and what is wrong. */
export function parseManifest(text: string, key: string): FixityManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StorageContentError(`Fixity manifest ${key} is not valid JSON; run the book again (retry --force) to write a new one`);
  }
  const m = parsed as Partial<FixityManifest>;
  const okEntry = (e: Partial<ManifestEntry>) =>
    typeof e?.key === 'string' && typeof e.size === 'number' && /^[0-9a-f]{32}$/.test(e.md5 ?? '') && /^[0-9a-f]{64}$/.test(e.sha256 ?? '');
  if (m?.version !== 1 || typeof m.barcode !== 'string' || !Array.isArray(m.objects) || !m.objects.every(okEntry)) {
    throw new StorageContentError(
      `Fixity manifest ${key} lacks its version, barcode or objects (key, size, md5, sha256); run the book again to write a new one`,
    );
  }
  return m as FixityManifest;
}

/**
 * What the store holds under a key is not the bytes sent (or not there at all). Transient: the
 * copy is removed and the upload tried again; a book is never recorded stored on such a copy.
 */
export class FixityMismatchError extends PipelineError {
  constructor(
    readonly location: string,
    readonly key: string,
    detail: string,
  ) {
    super(
      `Stored copy failed its fixity check: ${location} key ${key}: ${detail}. The copy was removed and the upload will be tried again; ` +
        'if this repeats, the storage (or something between it and the workers) damages data: check it before going on.',
      { retryable: true, waitingFor: `storage at ${location} to keep the bytes it is sent (a stored copy did not match its digests)` },
    );
  }
}

/**
 * Re-reads `key` and compares it with the local digest. On a mismatch (or a missing object) the
 * copy is removed, best effort, and FixityMismatchError thrown.
 */
export async function checkStoredCopy(storage: BookStorage, key: string, expected: ContentDigest, signal?: AbortSignal): Promise<void> {
  const found = await storage.readDigest(key, { signal });
  if (found && sameContent(expected, found)) return;
  await storage.delete(key).catch(() => undefined);
  throw new FixityMismatchError(
    storage.location,
    key,
    found ? describeDifference(expected, found) : 'the object is not there after upload',
  );
}

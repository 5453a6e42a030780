/**
 * Content digests of a book's bytes (node:crypto), and the fixity manifest that records them.
 *
 * Integrity is decided on digests computed from the bytes themselves: MD5 (what S3 checks in
 * Content-MD5, and what checksum.md5 uses) and SHA-256 (the record a preservation repository keeps).
 * Sizes, ETags and metadata never stand in for them. One streaming pass computes both.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { PipelineError } from '../common/errors';
import type { BookStorage } from './types';

export interface ContentDigest {
  size: number;
  md5: string;
  sha256: string;
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

/** Hashes what passes, counting bytes; `digest()` once the stream has ended. */
export class Digester {
  private readonly md5 = createHash('md5');
  private readonly sha256 = createHash('sha256');
  private size = 0;

  update(chunk: Buffer): void {
    this.md5.update(chunk);
    this.sha256.update(chunk);
    this.size += chunk.length;
  }

  digest(): ContentDigest {
    return { size: this.size, md5: this.md5.digest('hex'), sha256: this.sha256.digest('hex') };
  }
}

/** Both digests of a stream in one pass; `onBytes` is awaited after each chunk (pacing, progress). */
export async function digestStream(
  source: Readable | AsyncIterable<Buffer | Uint8Array>,
  onBytes?: (bytes: number) => void | Promise<void>,
): Promise<ContentDigest> {
  const d = new Digester();
  for await (const chunk of source) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    d.update(bytes);
    if (onBytes) await onBytes(bytes.length);
  }
  return d.digest();
}

export function digestFile(path: string): Promise<ContentDigest> {
  return digestStream(createReadStream(path, { highWaterMark: 1024 * 1024 }));
}

export function digestBytes(data: Buffer | string): ContentDigest {
  const d = new Digester();
  d.update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  return d.digest();
}

/** True when both digests and the size agree. */
export function sameContent(a: ContentDigest, b: ContentDigest): boolean {
  return a.size === b.size && a.md5 === b.md5 && a.sha256 === b.sha256;
}

/** "size 10 → 12 bytes, md5 ab… → cd…": what differs, for error messages and reports. */
export function describeDifference(expected: ContentDigest, found: ContentDigest): string {
  const parts: string[] = [];
  if (expected.size !== found.size) parts.push(`size ${expected.size} bytes expected, ${found.size} stored`);
  if (expected.sha256 !== found.sha256) parts.push(`SHA-256 ${expected.sha256} expected, ${found.sha256} stored`);
  if (expected.md5 !== found.md5) parts.push(`MD5 ${expected.md5} expected, ${found.md5} stored`);
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
    throw new Error(`Fixity manifest ${key} is not valid JSON; run the book again (retry --force) to write a new one`);
  }
  const m = parsed as Partial<FixityManifest>;
  const okEntry = (e: Partial<ManifestEntry>) =>
    typeof e?.key === 'string' && typeof e.size === 'number' && /^[0-9a-f]{32}$/.test(e.md5 ?? '') && /^[0-9a-f]{64}$/.test(e.sha256 ?? '');
  if (m?.version !== 1 || typeof m.barcode !== 'string' || !Array.isArray(m.objects) || !m.objects.every(okEntry)) {
    throw new Error(`Fixity manifest ${key} lacks its version, barcode or objects (key, size, md5, sha256); run the book again to write a new one`);
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
  throw new FixityMismatchError(storage.location, key, found ? describeDifference(expected, found) : 'the object is not there after upload');
}

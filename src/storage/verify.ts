/**
 * Fixity at rest: re-read a stored book's objects, streaming, and compare each with the digests its
 * fixity manifest recorded at upload. Used by `grin-pipeline verify`; reads storage, writes nothing there.
 */
import type { BookToken } from '../buckets/token';
import { storageKey } from './layout';
import { describeDifference, manifestKeyFor, parseManifest, sameContent, type ManifestEntry } from './fixity';
import type { BookStorage } from './types';
import type { StorageLayout } from '../config/types';

export type ObjectVerdict = 'ok' | 'mismatch' | 'missing' | 'error';

export interface VerifiedObject {
  barcode: string;
  artifact: string;
  key: string;
  verdict: ObjectVerdict;
  expectedSize?: number;
  expectedSha256?: string;
  foundSize?: number;
  foundSha256?: string;
  foundMd5?: string;
  detail?: string;
}

export interface VerifiedBook {
  barcode: string;
  ok: boolean;
  /** Bytes read back from storage. */
  bytes: number;
  objects: VerifiedObject[];
  /** What is wrong with the book as a whole (no manifest, manifest disagrees with the token...). */
  problem?: string;
  verifiedAt: string;
}

export interface VerifyBookOptions {
  signal?: AbortSignal;
  /** Compare MD5 too (size and SHA-256 always; MD5 costs more CPU than SHA-256). */
  md5?: boolean;
  /** Awaited after each chunk read (pacing, progress). */
  onBytes?: (bytes: number) => void | Promise<void>;
}

/** Verifies one stored book in `storage` (the storage its token names) against its manifest. */
export async function verifyStoredBook(
  storage: BookStorage,
  layout: StorageLayout,
  token: BookToken,
  opts: VerifyBookOptions = {},
): Promise<VerifiedBook> {
  const { barcode } = token;
  const verifiedAt = new Date().toISOString();
  const manifestKey = token.fixity?.manifest ?? manifestKeyFor(token.stored?.token ?? storageKey(layout, 'token', barcode));
  const fail = (problem: string, objects: VerifiedObject[] = [], bytes = 0): VerifiedBook => ({
    barcode,
    ok: false,
    bytes,
    objects,
    problem,
    verifiedAt,
  });

  let entries: ManifestEntry[];
  try {
    const text = await storage.getBytes(manifestKey).catch(async (err: unknown) => {
      if ((await storage.head(manifestKey).catch(() => undefined)) === null) return null;
      throw err;
    });
    if (!text) {
      return fail(
        `no fixity manifest at ${manifestKey} in ${storage.location} (stored before manifests were kept, or removed); run the book again with retry --force to write one`,
      );
    }
    entries = parseManifest(text.toString('utf8'), manifestKey).objects;
  } catch (err) {
    return fail(`cannot read the fixity manifest ${manifestKey}: ${err instanceof Error ? err.message : String(err)}`);
  }

  const objects: VerifiedObject[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const base = { barcode, artifact: entry.artifact, key: entry.key, expectedSize: entry.size, expectedSha256: entry.sha256 };
    try {
      const found = await storage.readDigest(entry.key, {
        signal: opts.signal,
        md5: opts.md5,
        onBytes: async (n) => {
          bytes += n;
          await opts.onBytes?.(n);
        },
      });
      if (!found) objects.push({ ...base, verdict: 'missing', detail: `no object at ${entry.key}` });
      else if (sameContent(entry, found))
        objects.push({ ...base, verdict: 'ok', foundSize: found.size, foundSha256: found.sha256, foundMd5: found.md5 });
      else {
        objects.push({
          ...base,
          verdict: 'mismatch',
          foundSize: found.size,
          foundSha256: found.sha256,
          foundMd5: found.md5,
          detail: describeDifference(entry, found),
        });
      }
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      objects.push({ ...base, verdict: 'error', detail: err instanceof Error ? err.message : String(err) });
    }
  }
  const archive = entries.find((e) => e.artifact === 'archive');
  if (token.fixity && archive?.sha256 !== token.fixity.archiveSha256) {
    return fail(
      `the manifest's archive SHA-256 (${archive?.sha256 ?? 'none'}) differs from the token's (${token.fixity.archiveSha256})`,
      objects,
      bytes,
    );
  }
  const bad = objects.filter((o) => o.verdict !== 'ok');
  return {
    barcode,
    ok: bad.length === 0,
    bytes,
    objects,
    problem: bad.length ? bad.map((o) => `${o.key}: ${o.verdict}${o.detail ? ` (${o.detail})` : ''}`).join('; ') : undefined,
    verifiedAt,
  };
}

/**
 * Paces reading to at most `bytesPerSecond` on average (0 or undefined: no limit); awaited per chunk.
 */
export function pacer(bytesPerSecond: number | undefined): (bytes: number) => Promise<void> {
  if (!bytesPerSecond || bytesPerSecond <= 0) return async () => undefined;
  const start = Date.now();
  let total = 0;
  return async (bytes) => {
    total += bytes;
    const due = start + (total / bytesPerSecond) * 1000;
    const wait = due - Date.now();
    if (wait > 5) await new Promise((resolve) => setTimeout(resolve, wait));
  };
}

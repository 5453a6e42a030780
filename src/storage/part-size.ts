/**
 * Multipart sizing. S3 allows at most 10,000 parts of 5 MiB to 5 GiB each (the last may be smaller)
 * and objects up to 5 TiB. We aim for 9,000 parts at most to keep a margin.
 */
import { StorageRefusedError } from './errors';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const MIN_PART_SIZE = 5 * MiB;
export const DEFAULT_PART_SIZE = 8 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
export const MAX_PARTS = 10_000;
export const MAX_OBJECT_SIZE = 5 * 1024 * GiB;
/** Part count we aim to stay under. */
const TARGET_MAX_PARTS = 9_000;

/** Files smaller than this go up in one PutObject; larger ones use multipart. */
export const MULTIPART_THRESHOLD = 16 * MiB;

/** Part size for a multipart upload of `fileSize` bytes: 8 MiB, or larger (whole MiB) for huge files. */
export function choosePartSize(fileSize: number): number {
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) {
    throw new StorageRefusedError(`Cannot choose a part size for file size ${fileSize}: expected a whole number of bytes >= 0`);
  }
  if (fileSize > MAX_OBJECT_SIZE) {
    throw new StorageRefusedError(`File of ${fileSize} bytes is larger than S3's 5 TiB object limit (${MAX_OBJECT_SIZE} bytes)`);
  }
  const needed = Math.ceil(Math.ceil(fileSize / TARGET_MAX_PARTS) / MiB) * MiB;
  return Math.min(MAX_PART_SIZE, Math.max(DEFAULT_PART_SIZE, needed));
}

/** How many parts a file of `fileSize` bytes has with `partSize` (at least one, even when empty). */
export function partCount(fileSize: number, partSize: number): number {
  return Math.max(1, Math.ceil(fileSize / partSize));
}

/**
 * The record stage 04 leaves for stage 05: decrypting and unpacking happen in one streaming pass
 * (the archive is read once, on both cores), and the MD5 of every file is taken on the way, so
 * stage 05 verifies checksum.md5 without reading the files again.
 *
 * The record is also the marker that the unpacked folder (and the decrypted archive) are complete:
 * it is written last, atomically, and removed first by anything that rewrites them. A re-run that
 * finds it skips the unpacking; one that does not starts the unpacking over.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../common/atomic-file';

export interface UnpackedRecord {
  files: number;
  bytes: number;
  /** Relative POSIX path -> hex MD5, for every file entry. */
  md5: Record<string, string>;
  /** SHA-256 of the decrypted archive as decryption wrote it (absent in records of older workers). */
  decryptedSha256?: string;
  /** MD5 of the same bytes (absent in records of workers before issue 23). */
  decryptedMd5?: string;
}

export async function writeUnpackedRecord(path: string, record: UnpackedRecord): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(record));
}

/** The record, or undefined when there is none (e.g. a retry after the folder was cleared). */
export async function readUnpackedRecord(path: string): Promise<UnpackedRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as UnpackedRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * Output files that cannot be turned against us: each is written under a temporary name created
 * exclusively (O_CREAT|O_EXCL: fails if anything, even a dangling symbolic link or a hard link to
 * someone else's file, is already there; O_NOFOLLOW for good measure), then renamed into place. A
 * rename replaces a name, never writes through it, so a link planted at the final name cannot send
 * our bytes elsewhere. A temporary file is removed on failure only if this call created it.
 */
import { constants, type WriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { PRIVATE_FILE_MODE } from '../common/file-modes';

const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Where a file is written before it is renamed to `path`. */
export function partialPath(path: string): string {
  return `${path}.part`;
}

/** Opens `path` as a new file for writing (EEXIST if anything is there; never follows a link). */
export async function createNewFile(path: string, highWaterMark?: number): Promise<WriteStream> {
  const handle = await open(path, NEW_FILE_FLAGS, PRIVATE_FILE_MODE);
  return handle.createWriteStream({ highWaterMark });
}

/**
 * A file written to `partialPath(path)` and renamed to `path` by `commit()`; `discard()` removes
 * the partial file (which this object created) and is safe to call more than once.
 */
export class PendingFile {
  private constructor(
    readonly path: string,
    readonly stream: WriteStream,
  ) {}

  static async create(path: string, highWaterMark?: number): Promise<PendingFile> {
    return new PendingFile(path, await createNewFile(partialPath(path), highWaterMark));
  }

  async commit(): Promise<void> {
    await rename(partialPath(this.path), this.path);
  }

  async discard(): Promise<void> {
    this.stream.destroy();
    await rm(partialPath(this.path), { force: true });
  }
}

/** Runs `write` into a PendingFile for `path` and commits it; on failure nothing is left behind. */
export async function writeNewFileAtomically(path: string, write: (out: WriteStream) => Promise<void>): Promise<void> {
  const file = await PendingFile.create(path);
  try {
    await write(file.stream);
    await file.commit();
  } catch (err) {
    await file.discard();
    throw err;
  }
}

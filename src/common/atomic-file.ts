/**
 * One way to write a file so that readers see either the old content or the new, never a part:
 * write a uniquely named temp file beside it, fsync, rename over the target, fsync the folder.
 * Every writer of state files (tokens, credentials, batch lists, records) goes through here.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PRIVATE_FILE_MODE } from './file-modes';

/** Temp names: `.<name>.<pid>.<random>.tmp` in the target's folder (same filesystem for rename). */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Matches names made by `tempPathFor` for a file called `basename`-anything. */
export const TEMP_NAME = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;

export interface AtomicWriteOptions {
  /** File mode; default 0o600 (applied before the rename, so never briefly wider). */
  mode?: number;
  /** Skip the fsyncs (only for files that are cheap to rebuild). Default false. */
  noSync?: boolean;
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    const mode = options.mode ?? PRIVATE_FILE_MODE;
    const handle = await fs.open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      if (!options.noSync) await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  if (!options.noSync) await syncDirectory(path.dirname(file));
}

/** Makes a rename durable; some platforms cannot fsync a folder, which is then best effort. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Not supported here (e.g. Windows): the rename itself is still atomic.
  } finally {
    await handle?.close();
  }
}

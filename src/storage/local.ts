/**
 * Local filesystem storage: keys are files under a root folder. Every write is atomic (temp file in
 * the same folder, fsync, rename), so a reader sees either the old object or the complete new one.
 * Metadata lives in a sidecar `<file>.meta.json`, written after the data.
 * Nothing under the root is followed if it is a symbolic link: a link planted at a book's folder or
 * any parent would send a decrypted book (and its metadata) outside the storage folder, so every
 * path component under the root is checked with lstat before use (StorageLinkError, permanent),
 * files are opened with O_NOFOLLOW, and what is created is the owner's only (0600/0700).
 */
import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BookStorage, PutOptions, ReadDigestOptions, StoredObject, UploadCheckpoint } from './types';
import { digestStream, type StoredDigest, type StorageIdentity } from './fixity';
import { assertSafeKey, normalizeMetadata } from './layout';
import { StorageConfigError, StorageContentError, StorageRefusedError } from './errors';
import { syncDirectory } from '../common/atomic-file';
import { PipelineError } from '../common/errors';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../common/file-modes';

const SIDECAR_SUFFIX = '.meta.json';
const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

/** A symbolic link under the storage root: an operator must replace it (retrying cannot help). */
export class StorageLinkError extends PipelineError {
  constructor(
    readonly path: string,
    root: string,
  ) {
    super(
      `Local storage refuses ${path}: it is a symbolic link under the storage root ${root}, and storage never follows links ` +
        '(one could send books outside the storage folder). Replace it with a real folder or file, or point storage.path at the place it leads to.',
      { retryable: false },
    );
  }
}

interface Sidecar {
  metadata: Record<string, string>;
  contentType?: string;
}

export class LocalStorage implements BookStorage {
  readonly location: string;
  readonly identity: StorageIdentity;

  constructor(root: string) {
    if (!root) throw new StorageConfigError('Local storage needs a root folder (storage.path in the config)');
    this.location = path.resolve(root);
    this.identity = { kind: 'local', root: this.location, location: this.location };
  }

  /** Absolute path of the file that holds `key`; refuses keys that would leave the root. */
  pathOf(key: string): string {
    assertSafeKey(key);
    if (key.endsWith(SIDECAR_SUFFIX)) {
      throw new StorageRefusedError(`Refusing storage key ${JSON.stringify(key)}: names ending in ${SIDECAR_SUFFIX} hold metadata`);
    }
    const full = path.resolve(this.location, key);
    const rel = path.relative(this.location, full);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new StorageRefusedError(`Refusing storage key ${JSON.stringify(key)}: it points outside ${this.location}`);
    }
    return full;
  }

  /** Removes one object and its metadata: check-config's probe, a copy that failed its fixity check, a cancelled book's objects. */
  async delete(key: string): Promise<void> {
    const file = await this.linkFreePath(key);
    await fsp.rm(file + SIDECAR_SUFFIX, { force: true });
    await fsp.rm(file, { force: true });
  }

  async head(key: string): Promise<StoredObject | null> {
    const file = await this.linkFreePath(key);
    let size: number;
    try {
      const st = await fsp.lstat(file);
      if (!st.isFile()) throw new StorageContentError(`Local storage: ${file} (key ${key}) is not a regular file`);
      size = st.size;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const sidecar = await readSidecar(file + SIDECAR_SUFFIX);
    return { size, metadata: sidecar?.metadata ?? {} };
  }

  async putFile(localPath: string, key: string, opts: PutOptions = {}): Promise<StoredObject> {
    const file = await this.linkFreePath(key);
    const metadata = normalizeMetadata(opts.metadata);
    const expected = (await fsp.stat(localPath)).size;
    await this.writeAtomically(file, createReadStream(localPath), opts.signal);
    return this.finish(key, file, expected, { metadata, contentType: opts.contentType });
  }

  async putBytes(data: Buffer | string, key: string, opts: PutOptions = {}): Promise<StoredObject> {
    const file = await this.linkFreePath(key);
    const metadata = normalizeMetadata(opts.metadata);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.writeAtomically(file, Readable.from([bytes]), opts.signal);
    return this.finish(key, file, bytes.length, { metadata, contentType: opts.contentType });
  }

  async getBytes(key: string): Promise<Buffer> {
    const file = await this.linkFreePath(key);
    try {
      return await readNoFollow(file);
    } catch (err) {
      if (isNotFound(err)) throw new StorageContentError(`Local storage: no object at key ${key} (${file})`);
      throw err;
    }
  }

  /** `pathOf(key)`, after checking that nothing on the way to it under the root is a symbolic link. */
  private async linkFreePath(key: string): Promise<string> {
    const file = this.pathOf(key);
    await this.refuseLinks(file);
    return file;
  }

  /**
   * Throws StorageLinkError when a component of `file` below the root (the file itself and its
   * sidecar included) is a symbolic link. Components that do not exist yet are fine: they will be
   * made as real folders. The root itself may be a link (a mount point chosen by the operator).
   */
  private async refuseLinks(file: string): Promise<void> {
    const parts = path.relative(this.location, file).split(path.sep);
    let current = this.location;
    const candidates: string[] = [];
    for (const part of parts) candidates.push((current = path.join(current, part)));
    candidates.push(file + SIDECAR_SUFFIX);
    for (const candidate of candidates) {
      let st;
      try {
        st = await fsp.lstat(candidate);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // A missing folder: nothing below it exists. A missing file: its sidecar may still be there.
        if (candidate === file || candidate === file + SIDECAR_SUFFIX) continue;
        return;
      }
      if (st.isSymbolicLink()) throw new StorageLinkError(candidate, this.location);
    }
  }

  /**
   * Every stored key: regular files under the root, not sidecars or temp files. Symbolic links are
   * neither followed nor listed.
   */
  async *listKeys(): AsyncIterable<string> {
    const walk = async function* (dir: string, prefix: string): AsyncIterable<string> {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const key = prefix + entry.name;
        if (entry.isDirectory()) yield* walk(path.join(dir, entry.name), `${key}/`);
        else if (entry.isFile() && !entry.name.endsWith(SIDECAR_SUFFIX) && !entry.name.startsWith('.')) yield key;
      }
    };
    yield* walk(this.location, '');
  }

  async readDigest(key: string, opts: ReadDigestOptions = {}): Promise<StoredDigest | null> {
    const file = await this.linkFreePath(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, READ_FLAGS);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    // The stream closes the handle when it ends or is destroyed (autoClose).
    const stream = handle.createReadStream({ highWaterMark: 1024 * 1024 });
    const abort = () => stream.destroy(opts.signal?.reason instanceof Error ? opts.signal.reason : undefined);
    if (opts.signal?.aborted) abort();
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      return await digestStream(stream, { onBytes: opts.onBytes, md5: opts.md5 });
    } finally {
      opts.signal?.removeEventListener('abort', abort);
    }
  }

  async abortUpload(_checkpoint: UploadCheckpoint): Promise<void> {
    // Local writes are never partial in place: an interrupted write leaves only a temp file.
  }

  /**
   * Data first, then metadata. The old sidecar is removed before the new data is renamed into place,
   * so a crash in between leaves data without metadata (which callers treat as "not the same book")
   * rather than new data described by old metadata.
   */
  private async writeAtomically(file: string, source: Readable, signal?: AbortSignal): Promise<void> {
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
    await this.refuseLinks(file); // again: a link may have appeared while the folders were made
    const temp = tempNameFor(file);
    try {
      const out = await fsp.open(temp, NEW_FILE_FLAGS, PRIVATE_FILE_MODE);
      await pipeline(source, out.createWriteStream(), { signal });
      await fsyncFile(temp);
      await fsp.rm(file + SIDECAR_SUFFIX, { force: true });
      await fsp.rename(temp, file);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
  }

  private async finish(key: string, file: string, expectedSize: number, sidecar: Sidecar): Promise<StoredObject> {
    const sidecarFile = file + SIDECAR_SUFFIX;
    const temp = tempNameFor(sidecarFile);
    try {
      const handle = await fsp.open(temp, NEW_FILE_FLAGS, PRIVATE_FILE_MODE);
      try {
        await handle.writeFile(JSON.stringify(sidecar, null, 2) + '\n');
      } finally {
        await handle.close();
      }
      await fsyncFile(temp);
      await fsp.rename(temp, sidecarFile);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    await syncDirectory(path.dirname(file));
    const stored = await this.head(key);
    if (!stored || stored.size !== expectedSize) {
      throw new StorageContentError(
        `Local storage: ${file} (key ${key}) has ${stored?.size ?? 'no'} bytes after writing, expected ${expectedSize}`,
      );
    }
    return stored;
  }
}

function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** The whole file, refusing (ELOOP) when it is a symbolic link. */
async function readNoFollow(file: string): Promise<Buffer> {
  const handle = await fsp.open(file, READ_FLAGS);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

async function readSidecar(sidecarFile: string): Promise<Sidecar | null> {
  let text: string;
  try {
    text = (await readNoFollow(sidecarFile)).toString('utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Sidecar>;
    return { metadata: parsed.metadata ?? {}, contentType: parsed.contentType };
  } catch {
    throw new StorageContentError(`Local storage: metadata file ${sidecarFile} is not valid JSON; delete it or re-upload the object`);
  }
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await fsp.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

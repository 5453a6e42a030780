/**
 * Local filesystem storage: keys are files under a root folder. Every write is atomic (temp file in
 * the same folder, fsync, rename), so a reader sees either the old object or the complete new one.
 * Metadata lives in a sidecar `<file>.meta.json`, written after the data.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BookStorage, PutOptions, ReadDigestOptions, StoredObject, UploadCheckpoint } from './types';
import { digestStream, type StoredDigest, type StorageIdentity } from './fixity';
import { assertSafeKey, normalizeMetadata } from './layout';
import { syncDirectory } from '../common/atomic-file';

const SIDECAR_SUFFIX = '.meta.json';

interface Sidecar {
  metadata: Record<string, string>;
  contentType?: string;
}

export class LocalStorage implements BookStorage {
  readonly location: string;
  readonly identity: StorageIdentity;

  constructor(root: string) {
    if (!root) throw new Error('Local storage needs a root folder (storage.path in the config)');
    this.location = path.resolve(root);
    this.identity = { kind: 'local', root: this.location, location: this.location };
  }

  /** Absolute path of the file that holds `key`; refuses keys that would leave the root. */
  pathOf(key: string): string {
    assertSafeKey(key);
    if (key.endsWith(SIDECAR_SUFFIX)) {
      throw new Error(`Refusing storage key ${JSON.stringify(key)}: names ending in ${SIDECAR_SUFFIX} hold metadata`);
    }
    const full = path.resolve(this.location, key);
    const rel = path.relative(this.location, full);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new Error(`Refusing storage key ${JSON.stringify(key)}: it points outside ${this.location}`);
    }
    return full;
  }

  /** Removes one object and its metadata: check-config's probe, a copy that failed its fixity check, a cancelled book's objects. */
  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await fsp.rm(file + SIDECAR_SUFFIX, { force: true });
    await fsp.rm(file, { force: true });
  }

  async head(key: string): Promise<StoredObject | null> {
    const file = this.pathOf(key);
    let size: number;
    try {
      const st = await fsp.stat(file);
      if (!st.isFile()) throw new Error(`Local storage: ${file} (key ${key}) is not a regular file`);
      size = st.size;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const sidecar = await readSidecar(file + SIDECAR_SUFFIX);
    return { size, metadata: sidecar?.metadata ?? {} };
  }

  async putFile(localPath: string, key: string, opts: PutOptions = {}): Promise<StoredObject> {
    const file = this.pathOf(key);
    const metadata = normalizeMetadata(opts.metadata);
    const expected = (await fsp.stat(localPath)).size;
    await this.writeAtomically(file, createReadStream(localPath), opts.signal);
    return this.finish(key, file, expected, { metadata, contentType: opts.contentType });
  }

  async putBytes(data: Buffer | string, key: string, opts: PutOptions = {}): Promise<StoredObject> {
    const file = this.pathOf(key);
    const metadata = normalizeMetadata(opts.metadata);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.writeAtomically(file, Readable.from([bytes]), opts.signal);
    return this.finish(key, file, bytes.length, { metadata, contentType: opts.contentType });
  }

  async getBytes(key: string): Promise<Buffer> {
    const file = this.pathOf(key);
    try {
      return await fsp.readFile(file);
    } catch (err) {
      if (isNotFound(err)) throw new Error(`Local storage: no object at key ${key} (${file})`);
      throw err;
    }
  }

  async readDigest(key: string, opts: ReadDigestOptions = {}): Promise<StoredDigest | null> {
    const file = this.pathOf(key);
    try {
      return await digestStream(createReadStream(file, { highWaterMark: 1024 * 1024, signal: opts.signal }), { onBytes: opts.onBytes, md5: opts.md5 });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
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
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const temp = tempNameFor(file);
    try {
      await pipeline(source, createWriteStream(temp, { flags: 'wx' }), { signal });
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
      await fsp.writeFile(temp, JSON.stringify(sidecar, null, 2) + '\n', { flag: 'wx' });
      await fsyncFile(temp);
      await fsp.rename(temp, sidecarFile);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    await syncDirectory(path.dirname(file));
    const stored = await this.head(key);
    if (!stored || stored.size !== expectedSize) {
      throw new Error(
        `Local storage: ${file} (key ${key}) has ${stored?.size ?? 'no'} bytes after writing, expected ${expectedSize}`,
      );
    }
    return stored;
  }
}

function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function readSidecar(sidecarFile: string): Promise<Sidecar | null> {
  let text: string;
  try {
    text = await fsp.readFile(sidecarFile, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Sidecar>;
    return { metadata: parsed.metadata ?? {}, contentType: parsed.contentType };
  } catch {
    throw new Error(`Local storage: metadata file ${sidecarFile} is not valid JSON; delete it or re-upload the object`);
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

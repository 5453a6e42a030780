/**
 * Safe, streaming extraction of a `.tar.gz`: node:zlib gunzip → tar-stream, one entry at a time.
 *
 * Every entry is checked before anything is written: only regular files and folders; no absolute
 * names, no `..`, no backslash or NUL, nothing that resolves outside the folder. Files are opened
 * with `wx` (never overwrite, never follow an existing link). Sparse files are refused too (GRIN
 * sends none, and their data would be written as a raw sparse map). Unpacked bytes (counted as
 * written, not as claimed by headers), entries, and the ratio of unpacked bytes to compressed bytes
 * read so far are bounded, so a decompression bomb stops after tens of MB, not at maxUnpackedBytes.
 *
 * The destination must be absent or empty. On any failure the destination folder is removed
 * entirely, so a failed extraction never looks finished.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import type { ExtractLimits, ExtractResult } from './types';
import { openDecryptedStream, type DecryptOptions, type DecryptedStream } from './decrypt';
import { ArchiveLimitError, CorruptArchiveError, DecryptError, OutputExistsError, UnsafeArchiveError } from './errors';
import { PendingFile } from './output-files';
import { normaliseMemberName, resolveInside } from './paths';
import { PRIVATE_FILE_MODE, PRIVATE_DIR_MODE } from '../common/file-modes';

export interface ExtractOptions {
  /** Called with the running count of unpacked bytes. */
  onProgress?: (bytes: number) => void;
  /**
   * Write only the entries this accepts (relative POSIX path); the others are still checked,
   * counted against the limits and hashed (for checksum.md5), but not stored. Default: write all.
   * `derivativeInputsOnly` is the selection the pipeline needs after extraction.
   */
  writeOnly?: (path: string) => boolean;
  /** Aborting stops the extraction (the destination is removed, as on any failure). */
  signal?: AbortSignal;
}

/** Page text, METS/MARC XML and checksum.md5: all that verification and derivatives read from disk. */
export function derivativeInputsOnly(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return /\.txt$|\.xml$/i.test(name) || name === 'checksum.md5';
}

/**
 * ExtractResult (`files`/`bytes`: regular-file entries of the archive and their unpacked size) plus
 * the MD5 of every file, computed while unpacking (saves re-reading for verification).
 */
export interface ExtractResultWithDigests extends ExtractResult {
  /** Relative POSIX path → lower-case hex MD5, for every file entry, written or not. */
  md5: Map<string, string>;
}

const CHUNK = 1024 * 1024;

/** What we read of a tar entry (tar-stream's Source, typed loosely: its `type` may also be null). */
interface TarEntry extends AsyncIterable<Uint8Array> {
  header: { name: string; type: string | null; size: number; pax?: Record<string, string> | null };
}

/** A sparse file as GNU tar writes it in pax format: `GNU.sparse.*` records, `GNUSparseFile.N/` names. */
function isPaxSparse(header: TarEntry['header']): boolean {
  if (header.pax && Object.keys(header.pax).some((key) => key.startsWith('GNU.sparse.'))) return true;
  return /(^|\/)GNUSparseFile\.\d+\//.test(header.name);
}

/** Extracts the `.tar.gz` at `src` into `destDir` (absent or empty). */
export async function extractTarGz(src: string, destDir: string, limits: ExtractLimits, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const { files, bytes } = await extractTarGzWithDigests(src, destDir, limits, opts);
  return { files, bytes };
}

/**
 * extractTarGz, also returning the MD5 of every file taken while unpacking: pass `md5` to
 * verifyChecksums as `knownMd5` and it need not read every file again (~1 s per 300 MB).
 */
export async function extractTarGzWithDigests(
  src: string,
  destDir: string,
  limits: ExtractLimits,
  opts: ExtractOptions = {},
): Promise<ExtractResultWithDigests> {
  return extractGzipTarStream([createReadStream(src, { highWaterMark: CHUNK })], destDir, limits, {
    ...opts,
    label: basename(src),
  });
}

/**
 * Decrypts `src` and, in the same pass, writes the decrypted `.tar.gz` to `decryptedPath` (kept for
 * upload) and unpacks it into `destDir`: the archive is read once instead of written and read again.
 * On failure both `decryptedPath` and `destDir` are removed.
 */
export async function decryptAndExtract(
  src: string,
  decryptedPath: string,
  destDir: string,
  passphrase: string,
  limits: ExtractLimits,
  opts: ExtractOptions & {
    onDecryptProgress?: (bytes: number) => void;
    decryptThread?: DecryptOptions['thread'];
    decryptStallMs?: number;
  } = {},
): Promise<{ decryptedBytes: number; decryptedSha256: string; decryptedMd5: string } & ExtractResultWithDigests> {
  await prepareDestination(destDir); // fail on a non-empty folder before any decryption work
  let decrypted: DecryptedStream | undefined;
  let out: PendingFile | undefined;
  try {
    decrypted = await openDecryptedStream(src, passphrase, {
      onProgress: opts.onDecryptProgress,
      maxBytes: compressedBound(limits.maxUnpackedBytes),
      thread: opts.decryptThread,
      stallMs: opts.decryptStallMs,
    });
    // Written as <decryptedPath>.part and renamed only once everything unpacked cleanly.
    out = await PendingFile.create(decryptedPath, CHUNK);
    const tee = new TeeToFile(out.stream);
    const result = await extractGzipTarStream([decrypted.stream, tee], destDir, limits, {
      ...opts,
      label: basename(src),
    });
    await out.commit();
    return { decryptedBytes: decrypted.bytes(), ...tee.digests(), ...result };
  } catch (err) {
    decrypted?.stream.destroy();
    await out?.discard();
    await rm(destDir, { recursive: true, force: true });
    throw err;
  }
}

/** A gzip of N bytes is at most a little over N (stored blocks); anything larger is not an honest archive. */
function compressedBound(maxUnpackedBytes: number): number {
  return Math.ceil(maxUnpackedBytes * 1.01) + 1024 * 1024;
}

/**
 * Passes chunks through while also writing them to a file (with that file's backpressure), and takes
 * the SHA-256 and MD5 of what it writes: the decrypted archive's digests as they came out of the
 * decryption, which the upload sends with the archive (Content-MD5) and checks the stored copy
 * against, so it need not read the file once more to take them (fixity from GRIN's bytes on).
 */
class TeeToFile extends Transform {
  private readonly hash = createHash('sha256');
  private readonly md5 = createHash('md5');

  constructor(private readonly out: WriteStream) {
    super({ highWaterMark: CHUNK });
    out.on('error', (err) => this.destroy(err));
  }

  digests(): { decryptedSha256: string; decryptedMd5: string } {
    return { decryptedSha256: this.hash.digest('hex'), decryptedMd5: this.md5.digest('hex') };
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.md5.update(chunk);
    if (this.out.write(chunk)) cb(null, chunk);
    else this.out.once('drain', () => cb(null, chunk));
  }

  override _flush(cb: TransformCallback): void {
    this.out.end(() => cb());
  }
}

/** Creates `destDir` (or takes it empty); a symbolic link there is refused, never followed. */
async function prepareDestination(destDir: string): Promise<string> {
  const info = await lstat(destDir).catch(() => null);
  if (info?.isSymbolicLink()) {
    throw new OutputExistsError(`Cannot extract into ${destDir}: it is a symbolic link (refusing to follow it).`);
  }
  await mkdir(destDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const existing = await readdir(destDir);
  if (existing.length > 0) {
    throw new OutputExistsError(`Cannot extract into ${destDir}: the folder is not empty (remove it and retry).`);
  }
  return realpath(destDir);
}

/** Code and message of anything thrown (not `instanceof Error`: Node's own errors may come from another realm). */
function describe(err: unknown): { code: string; message: string } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  return { code: typeof e.code === 'string' ? e.code : '', message: typeof e.message === 'string' ? e.message : String(err) };
}

/** Orders errors so the cause, not a consequence such as "premature close", is reported. */
function errorRank(err: unknown): number {
  if (err instanceof DecryptError) return 0;
  if (err instanceof UnsafeArchiveError || err instanceof ArchiveLimitError) return 1;
  if (err instanceof CorruptArchiveError) return 2;
  if (describe(err).code === 'ERR_STREAM_PREMATURE_CLOSE') return 4;
  return 3;
}

/** gzip and tar parse failures become CorruptArchiveError; our own errors pass through. */
function asCorruption(label: string, err: unknown): unknown {
  if (errorRank(err) < 3) return err;
  const { code, message } = describe(err);
  if (code.startsWith('Z_')) {
    const why = code === 'Z_BUF_ERROR' ? 'the gzip data end too early (truncated file)' : `it is not valid gzip data (${message})`;
    return new CorruptArchiveError(`Cannot unpack ${label}: ${why}.`, { cause: err });
  }
  if (/tar header|Unexpected end of data|Header exceeds max size|Invalid header/i.test(message)) {
    return new CorruptArchiveError(`Cannot unpack ${label}: the tar data are damaged or truncated (${message}).`, {
      cause: err,
    });
  }
  return err;
}

/**
 * Runs `stages` (a byte source and optional transforms, yielding gzip data) into gunzip → untar and
 * writes the entries under `destDir`.
 */
export async function extractGzipTarStream(
  stages: Readable[],
  destDir: string,
  limits: ExtractLimits,
  opts: ExtractOptions & { label: string },
): Promise<ExtractResultWithDigests> {
  const root = await prepareDestination(destDir);
  // allowUnknownFormat: v7 archives (no ustar magic), which GNU tar also reads.
  const untar = tarExtract({ allowUnknownFormat: true } as Parameters<typeof tarExtract>[0]);
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const streams = [...stages, gunzip, untar as unknown as NodeJS.WritableStream];
  const feeding = pipeline(streams, ...(opts.signal ? [{ signal: opts.signal }] : []));
  // bytesWritten: compressed bytes handed to zlib so far, what the expansion ratio is measured against.
  const writer = new EntryWriter(root, limits, opts, () => gunzip.bytesWritten);
  const consuming = writer.consume(untar as unknown as AsyncIterable<TarEntry>).catch((err: unknown) => {
    untar.destroy(err as Error);
    throw err;
  });
  const [fed, consumed] = await Promise.allSettled([feeding, consuming]);
  if (fed.status === 'fulfilled' && consumed.status === 'fulfilled') {
    return { files: writer.files, bytes: writer.bytes, md5: writer.md5 };
  }
  for (const s of stages) s.destroy();
  const errors = [fed, consumed].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  errors.sort((a, b) => errorRank(a) - errorRank(b));
  await rm(destDir, { recursive: true, force: true });
  throw asCorruption(opts.label, errors[0]);
}

/** Files whose last writes may still be in flight while the next entries are read. */
const FILES_IN_FLIGHT = 8;

/**
 * Checks and writes tar entries one by one, keeping the running totals. A file's data are written
 * with its stream's backpressure, but the next entry is read while the previous files' last writes
 * and closes complete (at most FILES_IN_FLIGHT), so disk latency is not paid once per file.
 */
class EntryWriter {
  files = 0;
  bytes = 0;
  entries = 0;
  readonly md5 = new Map<string, string>();
  private readonly seen = new Set<string>();
  private readonly madeDirs = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly open = new Set<WriteStream>();
  private failure: unknown = null;

  constructor(
    private readonly root: string,
    private readonly limits: ExtractLimits,
    private readonly opts: ExtractOptions & { label: string },
    private readonly compressedRead: () => number,
  ) {
    this.madeDirs.add(root);
  }

  async consume(untar: AsyncIterable<TarEntry>): Promise<void> {
    try {
      for await (const entry of untar) {
        this.throwIfFailed();
        await this.writeEntry(entry.header, entry);
      }
      await Promise.all(this.inFlight);
      this.throwIfFailed();
    } finally {
      // On failure: stop what is still being written before the caller removes the folder.
      for (const out of this.open) out.destroy();
      await Promise.allSettled(this.inFlight);
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private refusal(name: string, why: string): UnsafeArchiveError {
    return new UnsafeArchiveError(name, `Refusing to unpack ${this.opts.label}: entry "${name}" ${why}.`);
  }

  private refuse(name: string, why: string): never {
    throw this.refusal(name, why);
  }

  /** File-system errors that mean two entries fight over one name. */
  private asClash(name: string, err: unknown): unknown {
    const { code } = describe(err);
    return code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR'
      ? this.refusal(name, 'clashes with another entry of the same name')
      : err;
  }

  private async ensureDir(dir: string, name: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    try {
      await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    } catch (err) {
      throw this.asClash(name, err);
    }
    for (let d = dir; d.length > this.root.length && !this.madeDirs.has(d); d = dirname(d)) this.madeDirs.add(d);
  }

  private async writeEntry(header: TarEntry['header'], data: TarEntry): Promise<void> {
    const name = header.name;
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new ArchiveLimitError(
        `Refusing to unpack ${this.opts.label}: it has more than ${this.limits.maxEntries} entries (limit maxEntries).`,
      );
    }
    if (header.type !== 'file' && header.type !== 'directory') {
      this.refuse(name, `is a ${header.type ?? 'special entry of unknown type'}; only regular files and folders are allowed`);
    }
    if (isPaxSparse(header)) {
      this.refuse(name, 'is a sparse file (GNU tar --sparse, pax format); GRIN archives hold none, so it is not unpacked');
    }
    const normalised = normaliseMemberName(name);
    if ('problem' in normalised) this.refuse(name, normalised.problem);
    if (normalised.path === '') {
      if (header.type === 'directory') return drain(data);
      this.refuse(name, 'has an empty name');
    }
    const target = resolveInside(this.root, normalised.path);
    if (!target) this.refuse(name, 'resolves outside the destination folder');

    if (header.type === 'directory') {
      await this.ensureDir(target, name);
      return drain(data);
    }
    if (this.seen.has(normalised.path)) this.refuse(name, 'appears twice (a second copy would overwrite the first)');
    this.seen.add(normalised.path);
    if (this.bytes + (header.size ?? 0) > this.limits.maxUnpackedBytes) throw this.tooBig();
    if (this.opts.writeOnly && !this.opts.writeOnly(normalised.path)) return this.hashOnly(normalised.path, data);
    await this.ensureDir(dirname(target), name);
    while (this.inFlight.size >= FILES_IN_FLIGHT) await Promise.race(this.inFlight);
    this.throwIfFailed();
    await this.writeFile(name, normalised.path, target, data);
  }

  /** Counts one chunk against the limit and reports progress. */
  private count(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxUnpackedBytes) throw this.tooBig();
    if (this.bytes > this.limits.expansionCheckAfterBytes) {
      const compressed = Math.max(1, this.compressedRead());
      if (this.bytes / compressed > this.limits.maxExpansionRatio) throw this.tooExpanded(compressed);
    }
    this.opts.onProgress?.(this.bytes);
  }

  /** An entry that is not stored: checked and hashed all the same. */
  private async hashOnly(path: string, data: TarEntry): Promise<void> {
    const hash = createHash('md5');
    for await (const chunk of data) {
      this.count(chunk);
      hash.update(chunk);
    }
    this.md5.set(path, hash.digest('hex'));
    this.files++;
  }

  /** Streams one entry into a new file; returns once its data are handed over, not once it is closed. */
  private async writeFile(name: string, path: string, target: string, data: TarEntry): Promise<void> {
    const hash = createHash('md5');
    let digest = '';
    const out = createWriteStream(target, { flags: 'wx', mode: PRIVATE_FILE_MODE, highWaterMark: CHUNK });
    this.open.add(out);
    // Recorded, not thrown here: a late failure surfaces at the next entry or at the end.
    const settled = finished(out).then(
      () => {
        this.md5.set(path, digest);
        this.files++;
      },
      (err: unknown) => {
        this.failure ??= this.asClash(name, err);
      },
    );
    const tracked = settled.finally(() => {
      this.inFlight.delete(tracked);
      this.open.delete(out);
    });
    this.inFlight.add(tracked);

    for await (const chunk of data) {
      this.count(chunk);
      hash.update(chunk);
      if (!out.write(chunk)) await drainOrClose(out);
      if (out.destroyed) {
        await settled;
        this.throwIfFailed();
      }
    }
    digest = hash.digest('hex');
    out.end();
  }

  private tooExpanded(compressed: number): ArchiveLimitError {
    return new ArchiveLimitError(
      `Refusing to unpack ${this.opts.label}: it is a decompression bomb: ${compressed} compressed bytes unpacked to more than ` +
        `${this.bytes} (over ${this.limits.maxExpansionRatio} times as many; limit maxExpansionRatio). A real book unpacks to about its compressed size.`,
    );
  }

  private tooBig(): ArchiveLimitError {
    return new ArchiveLimitError(
      `Refusing to unpack ${this.opts.label}: it unpacks to more than ${this.limits.maxUnpackedBytes} bytes (limit maxUnpackedBytes).`,
    );
  }
}

/** Resolves when `out` can take more data or has closed (an error is picked up by its `finished`). */
function drainOrClose(out: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

/** Reads and discards an entry's data so the tar parser moves on. */
async function drain(data: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _chunk of data) {
    // folders normally carry no data; anything there is skipped, as GNU tar does
  }
}

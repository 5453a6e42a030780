/**
 * The encrypted packages behind `<BARCODE>.tar.gz.gpg`. Each is generated lazily on the first
 * HEAD or GET, once per (barcode, conversion), cached on disk, and removed when the package
 * leaves the pool. Content faults (wrong passphrase, flipped bytes, damaged tar) are decided
 * once per package, so every request for that package sees the same bytes and ETag.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { writeEncryptedBookArchive, type BookDefect } from './book-content';
import type { FaultInjector, FaultName } from './faults';
import type { SimBook } from './inventory';

export interface ArchiveInfo {
  barcode: string;
  conversion: number;
  path: string;
  size: number;
  /** ETag value without quotes (md5 of the encrypted bytes). */
  etag: string;
  /** Content faults baked into this package, e.g. ['badPassphrase']; empty for a good one. */
  faults: FaultName[];
}

export interface ArchiveStoreOptions {
  dataDir: string;
  directory: string;
  seed: number;
  passphrase: string;
  pageImageBytes: number;
  /** Archives generated at once (encryption is CPU-bound). */
  concurrency?: number;
}

const DEFECT_FAULTS: [FaultName, BookDefect][] = [
  ['checksumMismatch', 'checksum-mismatch'],
  ['notGzip', 'not-gzip'],
  ['truncatedTar', 'truncated-tar'],
  ['noMarc', 'no-marc'],
  ['missingListedFile', 'missing-listed-file'],
  ['missingPageText', 'missing-page-text'],
  ['hostileArchive', 'hostile-path'],
  ['decompressionBomb', 'decompression-bomb'],
];

async function md5OfFile(path: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Flips a run of bytes past the OpenPGP headers so the integrity check (MDC) fails on decrypt. */
async function corruptInPlace(path: string, size: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const length = Math.min(16, Math.max(1, Math.floor(size / 10)));
    const position = Math.max(0, Math.floor(size * 0.6) - length);
    const bytes = Buffer.alloc(length);
    await handle.read(bytes, 0, length, position);
    for (let i = 0; i < length; i++) bytes[i] ^= 0xff;
    await handle.write(bytes, 0, length, position);
  } finally {
    await handle.close();
  }
}

export class ArchiveStore {
  private readonly pending = new Map<string, Promise<ArchiveInfo>>();
  private readonly ready = new Map<string, ArchiveInfo>();
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly folder: string;

  constructor(
    private readonly opts: ArchiveStoreOptions,
    private readonly faults: FaultInjector,
  ) {
    this.limit = pLimit(opts.concurrency ?? 2);
    this.folder = join(opts.dataDir, 'archives', opts.directory);
  }

  private static key(barcode: string, conversion: number): string {
    return `${barcode}#${conversion}`;
  }

  /** The current package of a converted book, generating it on first use. */
  get(book: SimBook): Promise<ArchiveInfo> {
    const key = ArchiveStore.key(book.barcode, book.conversions);
    let promise = this.pending.get(key);
    if (!promise) {
      const { barcode, conversions, pages, title } = book;
      promise = this.limit(() => this.generate(barcode, conversions, pages, title));
      this.pending.set(key, promise);
      const current = promise;
      current.then(
        (info) => {
          if (this.pending.get(key) === current) this.ready.set(key, info); // not forgotten meanwhile
        },
        () => {
          if (this.pending.get(key) === current) this.pending.delete(key); // let a later request try again
        },
      );
    }
    return promise;
  }

  /** The package if it has been generated already (for views; never generates). */
  peek(barcode: string, conversion: number): ArchiveInfo | undefined {
    return this.ready.get(ArchiveStore.key(barcode, conversion));
  }

  /** The package left the pool: drop it (a GET already streaming it keeps its open file). */
  forget(barcode: string, conversion: number): void {
    const key = ArchiveStore.key(barcode, conversion);
    const promise = this.pending.get(key);
    this.pending.delete(key);
    this.ready.delete(key);
    promise
      ?.then(
        (info) => rm(info.path, { force: true }),
        () => undefined,
      )
      .catch(() => undefined);
  }

  /** Waits for archives being generated (before their folder is removed). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending.values()]);
  }

  private async generate(barcode: string, conversion: number, pages: number, title: string): Promise<ArchiveInfo> {
    await mkdir(this.folder, { recursive: true });
    const path = join(this.folder, `${barcode}.c${conversion}.tar.gz.gpg`);
    const baked: FaultName[] = [];
    const defect = DEFECT_FAULTS.find(([name]) => this.faults.fires(name, [barcode]));
    if (defect) baked.push(defect[0]);
    const badPassphrase = this.faults.fires('badPassphrase', [barcode]);
    if (badPassphrase) baked.push('badPassphrase');
    const { bytes } = await writeEncryptedBookArchive(
      {
        directory: this.opts.directory,
        barcode,
        seed: this.opts.seed,
        pages,
        pageImageBytes: this.opts.pageImageBytes,
        title: title || undefined,
        defect: defect?.[1] ?? 'none',
        passphrase: badPassphrase ? `${this.opts.passphrase} (not the library's)` : this.opts.passphrase,
      },
      path,
    );
    if (this.faults.fires('corruptArchive', [barcode])) {
      await corruptInPlace(path, bytes);
      baked.push('corruptArchive');
    }
    return { barcode, conversion, path, size: bytes, etag: await md5OfFile(path), faults: baked };
  }
}

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ArchiveLimitError, UnsafeArchiveError } from '../../src/archive/errors';
import { extractTarGz } from '../../src/archive/extract';
import { DEFAULT_EXTRACT_LIMITS, unpackArchive } from '../../src/archive/unpack';
import { loadConfig } from '../../src/config/load';
import { bombTarGz } from '../../devkit/simulator/bomb';
import { PASSPHRASE, bookEntries, cleanupGpg, gpgEncrypt, makeTar, md5, removeDir, tempDir, type TarEntrySpec } from './archive-fixtures';

const MB = 1_000_000;

describe('decompression bombs', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));
  afterAll(() => cleanupGpg());

  it("the defaults are the config schema's, for unpack and the pipeline alike", () => {
    const { maxUnpackedBytes, maxEntries, maxExpansionRatio, expansionCheckAfterBytes } = loadConfig({ env: {} }).limits;
    expect(DEFAULT_EXTRACT_LIMITS).toEqual({ maxUnpackedBytes, maxEntries, maxExpansionRatio, expansionCheckAfterBytes });
    expect(maxEntries).toBe(200_000);
  });

  it('a 1 GiB file of zeros in ~1 MB of gzip is refused after less than 100 MB, by the expansion ratio', async () => {
    const bomb = join(dir, 'bomb.tar.gz');
    writeFileSync(bomb, await bombTarGz('00000001.jp2', 1024));
    const out = join(dir, 'out');
    let written = 0;
    const err = await extractTarGz(bomb, out, DEFAULT_EXTRACT_LIMITS, { onProgress: (n) => (written = n) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveLimitError);
    expect((err as Error).message).toMatch(/decompression bomb.*maxExpansionRatio/);
    expect(written).toBeLessThan(100 * MB);
    expect(existsSync(out)).toBe(false);
  });

  it('unpack refuses an encrypted bomb with the default limits and leaves nothing behind', async () => {
    writeFileSync(join(dir, 'bomb.tar.gz'), await bombTarGz('00000001.jp2', 1024));
    const archive = join(dir, 'BOMB1.tar.gz.gpg');
    gpgEncrypt(join(dir, 'bomb.tar.gz'), archive);
    const out = join(dir, 'out');
    const err = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveLimitError);
    // "… unpacked to more than N …": N is what had been written when it was refused.
    const unpacked = Number(/unpacked to more than (\d+)/.exec((err as Error).message)?.[1]);
    expect(unpacked).toBeGreaterThan(0);
    expect(unpacked).toBeLessThan(100 * MB);
    expect(existsSync(out)).toBe(false);
  });

  it('the absolute bounds still apply below the ratio floor', async () => {
    writeFileSync(join(dir, 'bomb.tar.gz'), await bombTarGz('zeros.bin', 16));
    const limits = { ...DEFAULT_EXTRACT_LIMITS, maxUnpackedBytes: 4 * 1024 * 1024 };
    await expect(extractTarGz(join(dir, 'bomb.tar.gz'), join(dir, 'out'), limits)).rejects.toThrow(/limit maxUnpackedBytes/);
  });

  it('a large book of incompressible page images passes with the default limits', async () => {
    // A real book: 1,500 pages × ~300 KB JPEG 2000 (already compressed: gzip keeps it at ~1×) plus
    // ~32 KB of text and hOCR per page (gzip: ~5×) unpack to ~500 MB from ~460 MB, a ratio of ~1.1,
    // far below the limit of 50; a book of text alone (~5–10×) is too. Here 1,500 pages with 48 KiB
    // incompressible images take the unpacked size past the 64 MiB floor, so the ratio is checked on
    // a book of real length.
    const PAGES = 1500;
    const pages = Array.from({ length: PAGES }, (_, i) => `Text of page ${i + 1}. `.repeat(100));
    const entries: TarEntrySpec[] = bookEntries('BIG1', pages).map((e) =>
      e.name.endsWith('.jp2') ? { ...e, data: randomBytes(48 * 1024) } : e,
    );
    // checksum.md5 was made for the placeholder images: rebuild it for the random ones.
    const listed = entries.filter((e) => e.name !== 'checksum.md5');
    entries[entries.length - 1] = { name: 'checksum.md5', data: listed.map((e) => `${md5(e.data ?? '')}  ${e.name}\n`).join('') };
    writeFileSync(join(dir, 'BIG1.tar.gz'), gzipSync(await makeTar(entries), { level: 1 }));

    const summary = await unpackArchive({ archive: join(dir, 'BIG1.tar.gz'), decrypted: true, outDir: join(dir, 'out') });
    expect(summary.bytes).toBeGreaterThan(DEFAULT_EXTRACT_LIMITS.expansionCheckAfterBytes);
    expect(summary.checksum).toEqual({ verified: listed.length, hadChecksumFile: true, unlisted: [] });
    expect(summary.pageCount).toBe(PAGES);
  });
});

describe('sparse files (GNU tar --sparse) are refused', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'a\n');
    // 5 MB with one block of data in the middle: GNU tar stores it as a sparse map.
    execFileSync('truncate', ['-s', '5M', join(src, 'hole.bin')]);
    execFileSync('dd', ['of=' + join(src, 'hole.bin'), 'bs=1', 'seek=3000000', 'conv=notrunc'], {
      input: 'data',
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  });
  afterAll(() => removeDir(dir));

  it.each([
    ['posix, sparse 0.0', ['--format=posix', '--sparse-version=0.0']],
    ['posix, sparse 0.1', ['--format=posix', '--sparse-version=0.1']],
    ['posix, sparse 1.0 (GNUSparseFile.N/ name)', ['--format=posix', '--sparse-version=1.0']],
    ['GNU format (type S)', ['--format=gnu']],
  ])('%s', async (label, flags) => {
    const archive = join(dir, `${label.replace(/\W+/g, '-')}.tar.gz`);
    execFileSync('tar', [...flags, '--sparse', '-czf', archive, '-C', join(dir, 'src'), 'a.txt', 'hole.bin']);
    const out = join(dir, `out-${label.replace(/\W+/g, '-')}`);
    const err = await extractTarGz(archive, out, DEFAULT_EXTRACT_LIMITS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeArchiveError);
    expect((err as Error).message).toMatch(/hole\.bin/);
    expect((err as Error).message).toMatch(flags[0] === '--format=gnu' ? /only regular files/ : /sparse file/);
    expect(existsSync(out)).toBe(false);
  });
});

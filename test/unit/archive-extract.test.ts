import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { decryptAndExtract, extractTarGz, extractTarGzWithDigests } from '../../src/archive/extract';
import { verifyChecksums } from '../../src/archive/verify';
import { decryptFile } from '../../src/archive/decrypt';
import { ArchiveLimitError, CorruptArchiveError, DecryptError, UnsafeArchiveError } from '../../src/archive/errors';
import type { ExtractLimits } from '../../src/archive/types';
import { DEFAULT_EXTRACT_LIMITS } from '../../src/archive/unpack';
import {
  PASSPHRASE,
  bookEntries,
  cleanupGpg,
  gpgEncrypt,
  makeTar,
  makeTarGz,
  md5,
  removeDir,
  tempDir,
  type TarEntrySpec,
} from './archive-fixtures';

const LIMITS: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS, maxUnpackedBytes: 50 * 1024 * 1024, maxEntries: 1000 };

/** Every file under `dir` as relative path → content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name).slice(dir.length + 1)] = readFileSync(join(e.parentPath, e.name), 'latin1');
  }
  return out;
}

describe('extractTarGz', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));
  afterAll(() => cleanupGpg());

  async function archive(entries: TarEntrySpec[]): Promise<string> {
    const file = join(dir, 'in.tar.gz');
    writeFileSync(file, await makeTarGz(entries));
    return file;
  }

  it('unpacks files and folders, counting files and bytes', async () => {
    const src = await archive([
      { name: '00000001.txt', data: 'page one' },
      { name: 'sub/', type: 'directory' },
      { name: 'sub/deeper/file.bin', data: Buffer.alloc(3000, 7) },
      { name: './dot/./x.txt', data: 'x' },
    ]);
    const out = join(dir, 'out');
    const progress: number[] = [];
    const result = await extractTarGz(src, out, LIMITS, { onProgress: (n) => progress.push(n) });
    expect(result).toEqual({ files: 3, bytes: 8 + 3000 + 1 });
    expect(snapshot(out)).toEqual({
      '00000001.txt': 'page one',
      'sub/deeper/file.bin': Buffer.alloc(3000, 7).toString('latin1'),
      'dot/x.txt': 'x',
    });
    expect(progress[progress.length - 1]).toBe(3009);
  });

  it('extractTarGzWithDigests returns the MD5 of every file, which verifyChecksums accepts instead of re-reading', async () => {
    const src = await archive(bookEntries('B4', ['one', 'two']));
    const out = join(dir, 'out');
    const result = await extractTarGzWithDigests(src, out, LIMITS);
    expect(result.files).toBe(8);
    for (const name of ['00000001.txt', '00000002.jp2', 'checksum.md5']) {
      expect(result.md5.get(name)).toBe(md5(readFileSync(join(out, name))));
    }
    // With the digests, a file removed after unpacking is not read again, so it is not missed either.
    rmSync(join(out, '00000002.jp2'));
    await expect(verifyChecksums(out, { knownMd5: result.md5 })).resolves.toEqual({ verified: 7, hadChecksumFile: true, unlisted: [] });
    await expect(verifyChecksums(out)).rejects.toThrow(/missing: 00000002.jp2/);
  });

  it('keeps pax and GNU long names (over 100 characters)', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}.txt`;
    const out = join(dir, 'out');
    await extractTarGz(await archive([{ name: long, data: 'long' }]), out, LIMITS);
    expect(readFileSync(join(out, long), 'utf8')).toBe('long');
  });

  describe('refuses hostile entries, naming them, and leaves nothing behind', () => {
    const cases: [string, TarEntrySpec][] = [
      ['an absolute name', { name: '/tmp/evil.txt', data: 'x' }],
      ['a ".." name', { name: '../evil.txt', data: 'x' }],
      ['a name that climbs out through a folder', { name: 'a/../../evil.txt', data: 'x' }],
      ['a backslash name', { name: '..\\evil.txt', data: 'x' }],
      ['a symbolic link', { name: 'link', type: 'symlink', linkname: '/etc/passwd' }],
      ['a hard link', { name: 'hard', type: 'link', linkname: 'ok.txt' }],
      ['a character device', { name: 'tty', type: 'character-device' }],
      ['a block device', { name: 'disk', type: 'block-device' }],
      ['a fifo', { name: 'pipe', type: 'fifo' }],
      ['a contiguous file', { name: 'contig', type: 'contiguous-file' }],
    ];
    it.each(cases)('%s', async (_label, hostile) => {
      const src = await archive([{ name: 'ok.txt', data: 'fine' }, hostile, { name: 'after.txt', data: 'never' }]);
      const out = join(dir, 'out');
      const err = await extractTarGz(src, out, LIMITS).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsafeArchiveError);
      expect((err as UnsafeArchiveError).entry).toBe(hostile.name);
      expect((err as Error).message).toContain(hostile.name);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(dir, 'evil.txt'))).toBe(false);
      expect(existsSync('/tmp/evil.txt')).toBe(false);
    });

    it('a name given twice (a second write would overwrite the first)', async () => {
      const src = await archive([
        { name: 'a.txt', data: '1' },
        { name: 'a.txt', data: '2' },
      ]);
      await expect(extractTarGz(src, join(dir, 'out'), LIMITS)).rejects.toThrow(UnsafeArchiveError);
    });
  });

  it('stops a decompression bomb by bytes (counting bytes written) and by entry count', async () => {
    const bomb = await archive([{ name: 'zeros.bin', data: Buffer.alloc(8 * 1024 * 1024) }]);
    expect(readFileSync(bomb).length).toBeLessThan(100_000);
    const out = join(dir, 'out');
    await expect(extractTarGz(bomb, out, { ...LIMITS, maxUnpackedBytes: 1024 * 1024, maxEntries: 10 })).rejects.toThrow(ArchiveLimitError);
    expect(existsSync(out)).toBe(false);

    const many = await archive(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}.txt`, data: 'x' })));
    await expect(extractTarGz(many, out, { ...LIMITS, maxUnpackedBytes: 1e9, maxEntries: 10 })).rejects.toThrow(/more than 10 entries/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses data that are not gzip, truncated gzip, and a damaged tar header', async () => {
    const out = join(dir, 'out');
    writeFileSync(join(dir, 'plain.tar'), await makeTar([{ name: 'a.txt', data: 'a' }]));
    await expect(extractTarGz(join(dir, 'plain.tar'), out, LIMITS)).rejects.toThrow(CorruptArchiveError);

    const gz = await makeTarGz([{ name: 'a.bin', data: Buffer.alloc(200_000, 1) }]);
    writeFileSync(join(dir, 'cut.tar.gz'), gz.subarray(0, gz.length - 20));
    await expect(extractTarGz(join(dir, 'cut.tar.gz'), out, LIMITS)).rejects.toThrow(/truncated/);
    expect(existsSync(out)).toBe(false);

    const tar = await makeTar([{ name: 'a.txt', data: 'a' }]);
    tar[10] ^= 0xff; // inside the name: the header checksum no longer matches
    writeFileSync(join(dir, 'bad.tar.gz'), gzipSync(tar));
    await expect(extractTarGz(join(dir, 'bad.tar.gz'), out, LIMITS)).rejects.toThrow(CorruptArchiveError);

    const cutTar = await makeTar([{ name: 'big.bin', data: Buffer.alloc(10_000, 2) }]);
    writeFileSync(join(dir, 'cuttar.tar.gz'), gzipSync(cutTar.subarray(0, 4096)));
    await expect(extractTarGz(join(dir, 'cuttar.tar.gz'), out, LIMITS)).rejects.toThrow(CorruptArchiveError);
  });

  it('requires an empty destination', async () => {
    const src = await archive([{ name: 'a.txt', data: 'a' }]);
    const out = join(dir, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'existing'), 'x');
    await expect(extractTarGz(src, out, LIMITS)).rejects.toThrow(/not empty/);
    expect(readFileSync(join(out, 'existing'), 'utf8')).toBe('x');
  });

  describe('GNU tar archives (ustar, gnu, pax, v7 headers), encrypted with gpg', () => {
    const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`; // > 100 characters, splittable for ustar
    it.each(['gnu', 'pax', 'ustar', 'v7'])('--format=%s', async (format) => {
      const tree = join(dir, 'tree');
      mkdirSync(join(tree, longDir), { recursive: true });
      writeFileSync(join(tree, '00000001.txt'), 'page 1');
      writeFileSync(join(tree, longDir, 'nested.txt'), 'nested');
      if (format === 'gnu' || format === 'pax') writeFileSync(join(tree, longDir, `${'n'.repeat(150)}.txt`), 'long name');
      const members = format === 'v7' ? ['00000001.txt'] : ['.'];
      const tgz = join(dir, 'book.tar.gz');
      execFileSync('tar', [`--format=${format}`, '-czf', tgz, '-C', tree, ...members]);
      gpgEncrypt(tgz, join(dir, 'book.tar.gz.gpg'));

      const out = join(dir, 'out');
      const result = await decryptAndExtract(join(dir, 'book.tar.gz.gpg'), join(dir, 'dec.tar.gz'), out, PASSPHRASE, LIMITS);
      expect(readFileSync(join(dir, 'dec.tar.gz')).equals(readFileSync(tgz))).toBe(true);
      const gnu = join(dir, 'gnu-out');
      mkdirSync(gnu);
      execFileSync('tar', ['-xzf', join(dir, 'dec.tar.gz'), '-C', gnu]);
      expect(snapshot(out)).toEqual(snapshot(gnu));
      expect(result.files).toBe(Object.keys(snapshot(gnu)).length);
    });
  });
});

describe('decryptAndExtract (one pass)', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));
  afterAll(() => cleanupGpg());

  async function encryptedBook(): Promise<{ gpgPath: string; tgzPath: string }> {
    const tgzPath = join(dir, 'B1.tar.gz');
    writeFileSync(tgzPath, await makeTarGz(bookEntries('B1', ['one', 'two', 'three'])));
    const gpgPath = join(dir, 'B1.tar.gz.gpg');
    gpgEncrypt(tgzPath, gpgPath);
    return { gpgPath, tgzPath };
  }

  it('gives the same files, decrypted archive and counts as decrypting and extracting in two steps', async () => {
    const { gpgPath, tgzPath } = await encryptedBook();
    const fused = await decryptAndExtract(gpgPath, join(dir, 'fused.tar.gz'), join(dir, 'fused'), PASSPHRASE, LIMITS);

    const { bytes } = await decryptFile(gpgPath, join(dir, 'two.tar.gz'), PASSPHRASE);
    const twoStep = await extractTarGz(join(dir, 'two.tar.gz'), join(dir, 'two'), LIMITS);

    expect(readFileSync(join(dir, 'fused.tar.gz')).equals(readFileSync(tgzPath))).toBe(true);
    expect(readFileSync(join(dir, 'two.tar.gz')).equals(readFileSync(tgzPath))).toBe(true);
    expect(fused.decryptedBytes).toBe(bytes);
    expect({ files: fused.files, bytes: fused.bytes }).toEqual(twoStep);
    expect(snapshot(join(dir, 'fused'))).toEqual(snapshot(join(dir, 'two')));
    expect(fused.md5.size).toBe(fused.files);
    // The SHA-256 of the decrypted archive, taken as it was written.
    expect(fused.decryptedSha256).toBe(createHash('sha256').update(readFileSync(tgzPath)).digest('hex'));
  });

  it('removes both outputs when the integrity check fails at the end of the stream', async () => {
    const { gpgPath } = await encryptedBook();
    const bytes = readFileSync(gpgPath);
    bytes[bytes.length - 5] ^= 0xff; // inside the MDC: every tar entry decrypts fine, the check at the end fails
    writeFileSync(gpgPath, bytes);
    const err = await decryptAndExtract(gpgPath, join(dir, 'd.tar.gz'), join(dir, 'x'), PASSPHRASE, LIMITS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptError);
    expect((err as Error).message).toMatch(/integrity check failed/);
    expect(existsSync(join(dir, 'd.tar.gz'))).toBe(false);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('removes both outputs on a wrong passphrase and on a hostile entry', async () => {
    const { gpgPath } = await encryptedBook();
    await expect(decryptAndExtract(gpgPath, join(dir, 'd.tar.gz'), join(dir, 'x'), 'wrong', LIMITS)).rejects.toThrow(/passphrase is wrong/);
    expect(existsSync(join(dir, 'd.tar.gz'))).toBe(false);

    writeFileSync(
      join(dir, 'h.tar.gz'),
      await makeTarGz([
        { name: 'ok', data: 'x' },
        { name: 'l', type: 'symlink', linkname: '/' },
      ]),
    );
    gpgEncrypt(join(dir, 'h.tar.gz'), join(dir, 'h.gpg'));
    await expect(decryptAndExtract(join(dir, 'h.gpg'), join(dir, 'd.tar.gz'), join(dir, 'x'), PASSPHRASE, LIMITS)).rejects.toThrow(
      UnsafeArchiveError,
    );
    expect(existsSync(join(dir, 'd.tar.gz'))).toBe(false);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ChecksumMismatchError } from '../../src/archive/errors';
import { barcodeFromArchiveName, unpackArchive } from '../../src/archive/unpack';
import { expectedMarc, writeEncryptedBookArchive } from '../../src/simulator/book-content';
import { PASSPHRASE, bookEntries, encryptWithOpenpgp, makeTarGz, md5, removeDir, tempDir } from './archive-fixtures';

describe('unpackArchive', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  it('decrypts, extracts, verifies and derives, and summarises', async () => {
    const archive = join(dir, '32101012345678.tar.gz.gpg');
    writeFileSync(archive, await encryptWithOpenpgp(await makeTarGz(bookEntries('32101012345678', ['one', 'two']))));
    const out = join(dir, 'out');
    const summary = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: out });
    expect(summary).toMatchObject({
      barcode: '32101012345678',
      decryptedPath: join(out, '32101012345678.tar.gz'),
      extractedDir: join(out, '32101012345678'),
      files: 8, // 2 pages × (jp2, txt, html) + METS + checksum.md5
      checksum: { verified: 7, hadChecksumFile: true },
      pageCount: 2,
      hasMarc: true,
      notes: [],
    });
    expect(summary.decryptedBytes).toBe(readFileSync(summary.decryptedPath!).length);
    expect(readFileSync(join(summary.extractedDir, '00000002.txt'), 'utf8')).toBe('two');
    expect(gunzipSync(readFileSync(summary.ocrPath)).toString()).toBe('"one"\n"two"\n');
    expect(JSON.parse(readFileSync(summary.marcPath, 'utf8'))).toMatchObject({ barcode: '32101012345678', hasMarc: true });
  });

  it('fails with the names of files whose checksum differs', async () => {
    const entries = bookEntries('B9', ['one']);
    const sums = entries.find((e) => e.name === 'checksum.md5')!;
    sums.data = String(sums.data).replace(md5('one'), md5('tampered'));
    const archive = join(dir, 'B9.tar.gz.gpg');
    writeFileSync(archive, await encryptWithOpenpgp(await makeTarGz(entries)));
    const err = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'out') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as ChecksumMismatchError).mismatched).toEqual(['00000001.txt']);
  });

  it('applies the given limits', async () => {
    const archive = join(dir, 'B8.tar.gz.gpg');
    writeFileSync(archive, await encryptWithOpenpgp(await makeTarGz(bookEntries('B8', ['one', 'two']))));
    await expect(
      unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'out'), limits: { maxEntries: 3 } }),
    ).rejects.toThrow(/more than 3 entries/);
    expect(existsSync(join(dir, 'out', 'B8'))).toBe(false);
    expect(existsSync(join(dir, 'out', 'B8.tar.gz'))).toBe(false);
  });

  it('reads the MARC fields the simulator puts in its archives', async () => {
    const opts = { directory: 'TEST', barcode: 'SIM001', seed: 7, pages: 3, pageImageBytes: 2000 };
    const archive = join(dir, 'SIM001.tar.gz.gpg');
    await writeEncryptedBookArchive({ ...opts, passphrase: PASSPHRASE }, archive);
    const summary = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'out') });
    expect(summary.checksum.hadChecksumFile).toBe(true);
    expect(summary.pageCount).toBe(3);
    const marc = JSON.parse(readFileSync(summary.marcPath, 'utf8')) as { marc: unknown };
    expect(marc.marc).toEqual(JSON.parse(JSON.stringify(expectedMarc(opts))));
  });

  it('derives the barcode from the archive name', () => {
    expect(barcodeFromArchiveName('/x/33433012345678.tar.gz.gpg')).toBe('33433012345678');
    expect(barcodeFromArchiveName('B1.gpg')).toBe('B1');
  });
});

describe("unpackArchive keep: 'derivative-inputs'", () => {
  it('stores only text, XML and checksum.md5 but still verifies every listed file', async () => {
    const dir = tempDir();
    try {
      const entries = bookEntries('B7', ['one', 'two']);
      const archive = join(dir, 'B7.tar.gz.gpg');
      writeFileSync(archive, await encryptWithOpenpgp(await makeTarGz(entries)));
      const summary = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'out'), keep: 'derivative-inputs' });
      expect(summary).toMatchObject({ files: 8, checksum: { verified: 7, hadChecksumFile: true }, pageCount: 2, hasMarc: true });
      expect(existsSync(join(summary.extractedDir, '00000001.txt'))).toBe(true);
      expect(existsSync(join(summary.extractedDir, '00000001.jp2'))).toBe(false);

      // A damaged image is still caught although it is never written.
      const sums = entries.find((e) => e.name === 'checksum.md5')!;
      sums.data = String(sums.data).replace(md5('jp2 image of page 2'), md5('other'));
      writeFileSync(archive, await encryptWithOpenpgp(await makeTarGz(entries)));
      const err = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'out2'), keep: 'derivative-inputs' }).catch(
        (e: unknown) => e,
      );
      expect((err as ChecksumMismatchError).mismatched).toEqual(['00000002.jp2']);
    } finally {
      removeDir(dir);
    }
  });
});

import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ChecksumMismatchError, OutputExistsError } from '../../src/archive/errors';
import { UnpackAborted, barcodeFromArchiveName, unpackArchive } from '../../src/archive/unpack';
import { expectedMarc, writeEncryptedBookArchive } from '../../devkit/simulator/book-content';
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
    await expect(unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'out'), limits: { maxEntries: 3 } })).rejects.toThrow(
      /more than 3 entries/,
    );
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

describe('unpackArchive output safety and clean-up', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  async function archiveOf(barcode: string, entries = bookEntries(barcode, ['one', 'two'])): Promise<string> {
    const archive = join(dir, `${barcode}.tar.gz.gpg`);
    writeFileSync(archive, await encryptWithOpenpgp(await makeTarGz(entries)));
    return archive;
  }

  it('refuses an output folder holding a symbolic link where an output would go, touching nothing outside', async () => {
    const archive = await archiveOf('AESDEFLT');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    const out = join(dir, 'out');
    mkdirSync(out);
    symlinkSync(victim, join(out, 'AESDEFLT.tar.gz'));
    const err = await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputExistsError);
    expect((err as Error).message).toMatch(/not empty/);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(join(out, 'AESDEFLT.tar.gz')).isSymbolicLink()).toBe(true); // not ours: left alone
  });

  it('refuses an output folder that is itself a symbolic link', async () => {
    const archive = await archiveOf('AESDEFLT');
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'out'));
    await expect(unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(dir, 'out') })).rejects.toThrow(/symbolic link/);
    expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
  });

  it('after a checksum mismatch removes everything it created: a new folder, or its outputs in a given empty one', async () => {
    const entries = bookEntries('B9', ['one']);
    const sums = entries.find((e) => e.name === 'checksum.md5')!;
    sums.data = String(sums.data).replace(md5('one'), md5('tampered'));
    const archive = await archiveOf('B9', entries);
    const fresh = join(dir, 'new', 'out');
    await expect(unpackArchive({ archive, passphrase: PASSPHRASE, outDir: fresh })).rejects.toThrow(ChecksumMismatchError);
    expect(existsSync(join(dir, 'new'))).toBe(false);

    const given = join(dir, 'given');
    mkdirSync(given);
    await expect(unpackArchive({ archive, passphrase: PASSPHRASE, outDir: given })).rejects.toThrow(ChecksumMismatchError);
    expect(readdirSync(given)).toEqual([]);
  });

  it('stops on abort (Ctrl-C in the CLI) and removes what it wrote', async () => {
    const archive = await archiveOf('B5');
    const out = join(dir, 'out');
    const abort = new AbortController();
    const run = unpackArchive({ archive, passphrase: PASSPHRASE, outDir: out, signal: abort.signal });
    abort.abort();
    await expect(run).rejects.toBeInstanceOf(UnpackAborted);
    expect(existsSync(out)).toBe(false);
  });

  it('reports files that checksum.md5 does not list', async () => {
    const entries = bookEntries('B6', ['one', 'two']);
    entries.splice(0, 0, { name: 'extra-notes.txt', data: 'not in the list' });
    const summary = await unpackArchive({ archive: await archiveOf('B6', entries), passphrase: PASSPHRASE, outDir: join(dir, 'out') });
    expect(summary.checksum).toEqual({ verified: 7, hadChecksumFile: true, unlisted: ['extra-notes.txt'] });
    expect(summary.notes[0]).toMatch(/1 file\(s\) are not listed in checksum.md5.*extra-notes.txt/);
  });

  it('--decrypted: extracts, verifies and derives an already decrypted .tar.gz', async () => {
    const tgz = join(dir, 'B4.tar.gz');
    writeFileSync(tgz, await makeTarGz(bookEntries('B4', ['one', 'two'])));
    const summary = await unpackArchive({ archive: tgz, decrypted: true, outDir: join(dir, 'out') });
    expect(summary).toMatchObject({ barcode: 'B4', files: 8, pageCount: 2, hasMarc: true, checksum: { verified: 7 } });
    expect(summary.decryptedPath).toBeUndefined();
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['B4', 'B4_marc.json', 'B4_ocr.jsonl.gz']);
  });
});

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChecksumMismatchError, CorruptArchiveError, UnsafeArchiveError } from '../../src/archive/errors';
import { verifyChecksums } from '../../src/archive/verify';
import { md5, removeDir, tempDir } from './archive-fixtures';

describe('verifyChecksums', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
    writeFileSync(join(dir, '00000001.jp2'), 'image one');
    writeFileSync(join(dir, '00000001.txt'), 'text one');
    writeFileSync(join(dir, 'name with spaces.txt'), 'spaces');
  });
  afterEach(() => removeDir(dir));

  const list = (lines: string[]): void => writeFileSync(join(dir, 'checksum.md5'), lines.join('\n') + '\n');

  it('verifies every listed file, in GNU text and binary (*) and BSD forms, upper- or lower-case hex', async () => {
    list([
      `${md5('image one')}  00000001.jp2`,
      `${md5('text one').toUpperCase()} *00000001.txt`,
      `MD5 (name with spaces.txt) = ${md5('spaces')}`,
      '',
    ]);
    await expect(verifyChecksums(dir)).resolves.toEqual({ verified: 3, hadChecksumFile: true, unlisted: [] });
  });

  it('names mismatched and missing files', async () => {
    list([`${md5('image one')}  00000001.jp2`, `${md5('other text')}  00000001.txt`, `${md5('x')}  00000002.jp2`]);
    const err = await verifyChecksums(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as ChecksumMismatchError).mismatched).toEqual(['00000001.txt']);
    expect((err as ChecksumMismatchError).missing).toEqual(['00000002.jp2']);
    expect((err as Error).message).toContain('00000001.txt');
    expect((err as Error).message).toContain('00000002.jp2');
  });

  it('uses digests taken during extraction instead of re-reading (a wrong known digest is caught)', async () => {
    list([`${md5('image one')}  00000001.jp2`]);
    const known = new Map([['00000001.jp2', md5('something else')]]);
    await expect(verifyChecksums(dir, { knownMd5: known })).rejects.toThrow(ChecksumMismatchError);
    await expect(verifyChecksums(dir, { knownMd5: new Map([['00000001.jp2', md5('image one')]]) })).resolves.toEqual({
      verified: 1,
      hadChecksumFile: true,
      unlisted: [],
    });
  });

  it('without checksum.md5 reports hadChecksumFile false', async () => {
    await expect(verifyChecksums(dir)).resolves.toEqual({ verified: 0, hadChecksumFile: false, unlisted: [] });
  });

  it('finds checksum.md5 in a single top folder and checks names relative to it', async () => {
    mkdirSync(join(dir, 'BOOK'));
    writeFileSync(join(dir, 'BOOK', 'a.txt'), 'a');
    writeFileSync(join(dir, 'BOOK', 'checksum.md5'), `${md5('a')}  a.txt\n`);
    // The files beside BOOK/ are outside the list's folder: present but not checked.
    await expect(verifyChecksums(dir)).resolves.toEqual({
      verified: 1,
      hadChecksumFile: true,
      unlisted: ['00000001.jp2', '00000001.txt', 'name with spaces.txt'],
    });
  });

  it('reports files the list does not name (on disk, or among the digests taken while unpacking)', async () => {
    list([`${md5('image one')}  00000001.jp2`]);
    await expect(verifyChecksums(dir)).resolves.toEqual({
      verified: 1,
      hadChecksumFile: true,
      unlisted: ['00000001.txt', 'name with spaces.txt'],
    });
    const known = new Map([
      ['00000001.jp2', md5('image one')],
      ['00000002.jp2', md5('kept out of the folder by writeOnly')],
      ['checksum.md5', md5('the list itself')],
    ]);
    await expect(verifyChecksums(dir, { knownMd5: known })).resolves.toMatchObject({ verified: 1, unlisted: ['00000002.jp2'] });
  });

  it.each(['../outside.txt', '/etc/passwd', 'a/../../x', 'sub\\..\\x'])('refuses the unsafe listed name %s', async (name) => {
    list([`${md5('x')}  ${name}`]);
    const err = await verifyChecksums(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeArchiveError);
    expect((err as UnsafeArchiveError).entry).toBe(name);
  });

  it('refuses a line that is not md5sum format, naming the line', async () => {
    list([`${md5('image one')}  00000001.jp2`, 'this is not a checksum line']);
    await expect(verifyChecksums(dir)).rejects.toThrow(
      new CorruptArchiveError('checksum.md5 line 2 is not in md5sum format ("<32 hex digits>  <file name>").'),
    );
  });
});

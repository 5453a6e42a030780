import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { extract as tarExtract } from 'tar-stream';
import {
  bookTitle,
  encryptFile,
  expectedMarc,
  expectedPageText,
  metsFileName,
  MIN_PAGE_IMAGE_BYTES,
  writeBookTarGz,
  writeEncryptedBookArchive,
  type BookContentOptions,
  type BookDefect,
} from '../../devkit/simulator/book-content';
import { extractedMarc, inventRecord } from '../../devkit/simulator/marc-record';

const PASSPHRASE = 'lantern walnut orbit seventeen';
const BASE: BookContentOptions = { directory: 'TEST', barcode: 'B00012345', seed: 42, pages: 3, pageImageBytes: 10 * 1024 };
const GPG = '/usr/bin/gpg';
const hasGpg = existsSync(GPG) && spawnSync(GPG, ['--version']).status === 0;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'book-content-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

interface TarEntry {
  name: string;
  type: string;
  data: Buffer;
}

/** Reads a tar (gunzipped unless `gzip` is false) back with tar-stream, in archive order. */
async function readTar(path: string, gzip = true): Promise<TarEntry[]> {
  const extract = tarExtract();
  const entries: TarEntry[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.push({ name: entry.header.name, type: entry.header.type, data: Buffer.concat(chunks) });
    }
  })();
  const stages: NodeJS.ReadWriteStream[] = gzip ? [createGunzip()] : [];
  await Promise.all([pipeline([createReadStream(path), ...stages, extract as unknown as NodeJS.WritableStream]), reading]);
  return entries;
}

function checksumLines(entries: TarEntry[]): Array<{ md5: string; name: string }> {
  const file = entries.find((entry) => entry.name === 'checksum.md5');
  if (!file) throw new Error('no checksum.md5 in archive');
  return file.data
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const match = /^([0-9a-f]{32}) {2}(\S+)$/.exec(line);
      if (!match) throw new Error(`bad checksum line: ${JSON.stringify(line)}`);
      return { md5: match[1], name: match[2] };
    });
}

/** Names of listed files whose content is absent or differs from its listed md5. */
function checksumFailures(entries: TarEntry[]): string[] {
  const byName = new Map(entries.map((entry) => [entry.name, entry.data]));
  return checksumLines(entries)
    .filter(({ md5: listed, name }) => !byName.has(name) || md5(byName.get(name)!) !== listed)
    .map(({ name }) => name);
}

async function tarGz(opts: BookContentOptions, name = 'book.tar.gz'): Promise<{ path: string; result: { bytes: number; files: number } }> {
  const path = join(dir, name);
  const result = await writeBookTarGz(opts, path);
  return { path, result };
}

function metsOf(entries: TarEntry[], opts: BookContentOptions): string {
  const mets = entries.find((entry) => entry.name === metsFileName(opts));
  if (!mets) throw new Error('no METS file');
  return mets.data.toString('utf8');
}

function marcField(xml: string, tag: string): string[] {
  const pattern = new RegExp(`<marc:datafield tag="${tag}"[^>]*>(.*?)</marc:datafield>`, 'g');
  return [...xml.matchAll(pattern)].map((match) => match[1]);
}

function subfield(fieldXml: string, code: string): string | undefined {
  return new RegExp(`<marc:subfield code="${code}">(.*?)</marc:subfield>`).exec(fieldXml)?.[1];
}

describe('writeBookTarGz', () => {
  test('is deterministic: same options give identical bytes, another barcode or seed gives others', async () => {
    const first = await tarGz(BASE, 'a.tar.gz');
    const second = await tarGz(BASE, 'b.tar.gz');
    const otherBarcode = await tarGz({ ...BASE, barcode: 'B00012346' }, 'c.tar.gz');
    const otherSeed = await tarGz({ ...BASE, seed: 43 }, 'd.tar.gz');
    const digest = (path: string) => md5(readFileSync(path));
    expect(digest(first.path)).toBe(digest(second.path));
    expect(digest(otherBarcode.path)).not.toBe(digest(first.path));
    expect(digest(otherSeed.path)).not.toBe(digest(first.path));
    expect(first.result.bytes).toBe(readFileSync(first.path).length);
    // The page images themselves differ between books, not only the metadata.
    const imageOf = async (path: string) => (await readTar(path)).find((entry) => entry.name === '00000001.jp2')!.data;
    expect(md5(await imageOf(otherBarcode.path))).not.toBe(md5(await imageOf(first.path)));
    expect(bookTitle(42, 'B00012345')).toBe(bookTitle(42, 'B00012345'));
    const titles = new Set(Array.from({ length: 20 }, (_, index) => bookTitle(42, `B${index}XYZ`)));
    expect(titles.size).toBeGreaterThan(5);
  });

  test('holds, in GRIN order, jp2/txt/html per page, the METS file and checksum.md5', async () => {
    const { path, result } = await tarGz(BASE);
    expect(readFileSync(path).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const entries = await readTar(path);
    expect(entries.map((entry) => entry.name)).toEqual([
      '00000001.jp2',
      '00000001.txt',
      '00000001.html',
      '00000002.jp2',
      '00000002.txt',
      '00000002.html',
      '00000003.jp2',
      '00000003.txt',
      '00000003.html',
      'TEST_B00012345.xml',
      'checksum.md5',
    ]);
    expect(result.files).toBe(11);
    expect(entries.every((entry) => entry.type === 'file')).toBe(true);
    // GNU tar agrees (ustar headers, flat names).
    const listing = spawnSync('tar', ['-tzf', path], { encoding: 'utf8' });
    expect(listing.status).toBe(0);
    expect(listing.stdout.trim().split('\n')).toEqual(entries.map((entry) => entry.name));

    for (const image of entries.filter((entry) => entry.name.endsWith('.jp2'))) {
      expect(image.data.length).toBe(BASE.pageImageBytes);
      // JP2 signature box, then the file type box naming the 'jp2 ' brand; ends with the EOC marker.
      expect(image.data.subarray(0, 12)).toEqual(Buffer.from('0000000c6a5020200d0a870a', 'hex'));
      expect(image.data.subarray(16, 24).toString('latin1')).toBe('ftypjp2 ');
      expect(image.data.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    }
    const images = entries.filter((entry) => entry.name.endsWith('.jp2')).map((entry) => md5(entry.data));
    expect(new Set(images).size).toBe(3);
  });

  test('page text is the expected OCR text (with non-ASCII) and the hOCR carries the same words', async () => {
    const entries = await readTar((await tarGz(BASE)).path);
    const allText: string[] = [];
    for (let page = 1; page <= BASE.pages; page += 1) {
      const name = String(page).padStart(8, '0');
      const text = entries.find((entry) => entry.name === `${name}.txt`)!.data.toString('utf8');
      expect(text).toBe(expectedPageText(BASE, page));
      expect(Buffer.byteLength(text)).toBeGreaterThan(150);
      allText.push(text);
      const html = entries.find((entry) => entry.name === `${name}.html`)!.data.toString('utf8');
      expect(html).toContain('class="ocr_page"');
      expect(html).toContain('class="ocr_line"');
      const hocrWords = [...html.matchAll(/<span class="ocrx_word"[^>]*>([^<]*)<\/span>/g)].map((match) => match[1].replace(/&amp;/g, '&'));
      expect(hocrWords).toEqual(text.split(/\s+/).filter((word) => word.length > 0));
    }
    expect(allText.join('')).toContain('\f'); // page 3 ends with a form feed
    const manyPages = Array.from({ length: 30 }, (_, index) => expectedPageText({ ...BASE, pages: 30 }, index + 1)).join('');
    expect([...manyPages].some((character) => character.charCodeAt(0) > 0x7f)).toBe(true); // OCR text is not plain ASCII
  });

  test('checksum.md5 lists every other file with its correct md5, in md5sum format', async () => {
    const entries = await readTar((await tarGz(BASE)).path);
    const lines = checksumLines(entries);
    expect(lines.map((line) => line.name)).toEqual(entries.filter((entry) => entry.name !== 'checksum.md5').map((entry) => entry.name));
    expect(checksumFailures(entries)).toEqual([]);
    const raw = entries.find((entry) => entry.name === 'checksum.md5')!.data.toString('utf8');
    expect(raw.endsWith('\n')).toBe(true);
  });

  test('the METS file carries a MARC21-slim record matching expectedMarc', async () => {
    const opts = { ...BASE, title: 'Café society & its discontents' };
    const mets = metsOf(await readTar((await tarGz(opts)).path), opts);
    expect(mets).toContain('xmlns:METS="http://www.loc.gov/METS/"');
    expect(mets).toMatch(
      /<METS:dmdSec[^>]*>\s*<METS:mdWrap MDTYPE="MARC"[^>]*>\s*<METS:xmlData>\s*<marc:record xmlns:marc="http:\/\/www\.loc\.gov\/MARC21\/slim">/,
    );
    const expected = expectedMarc(opts);
    expect(mets).toContain(`<marc:controlfield tag="001">${expected.controlNumber}</marc:controlfield>`);
    const field008 = /<marc:controlfield tag="008">([^<]*)<\/marc:controlfield>/.exec(mets)![1];
    expect(field008).toHaveLength(40);
    expect(field008.slice(6, 7)).toBe(expected.dateType);
    if (expected.date1) expect(field008.slice(7, 11)).toBe(expected.date1);
    expect(field008.slice(35, 38)).toBe(expected.language);
    expect(mets).toMatch(/<marc:leader>\d{5}cam a22\d{5} a 4500<\/marc:leader>/);

    expect(subfield(marcField(mets, '245')[0], 'a')).toBe('Café society &amp; its discontents');
    expect(expected.title).toBe('Café society & its discontents');
    expect(subfield(marcField(mets, '245')[0], 'b')).toBe(expected.titleRemainder);
    expect(marcField(mets, '010').map((field) => subfield(field, 'a'))).toEqual([expected.lccn]);
    expect(marcField(mets, '020').map((field) => subfield(field, 'a'))).toEqual(expected.isbns);
    expect(marcField(mets, '050').map((field) => subfield(field, 'a'))).toEqual(expected.lcCallNumbers);
    expect(
      marcField(mets, '035')
        .map((field) => subfield(field, 'a'))
        .filter((value) => value!.includes('(OCoLC)')),
    ).toEqual(expected.oclcNumbers);
    expect(expected.oclcNumbers[0]).toMatch(/^\(OCoLC\)\d+$/);
    expect(marcField(mets, '650').map((field) => subfield(field, 'a'))).toEqual(expected.subjects.map((subject) => `${subject}.`));
    expect(marcField(mets, '655').map((field) => subfield(field, 'a'))).toEqual(expected.genres.map((genre) => `${genre}.`));
    expect(marcField(mets, '500').map((field) => subfield(field, 'a'))).toEqual(expected.notes);
    const author = expected.personalAuthor ?? expected.corporateAuthor;
    expect(marcField(mets, expected.personalAuthor ? '100' : '110').map((field) => subfield(field, 'a'))).toEqual([author]);
    const holding = marcField(mets, '955')[0];
    expect(subfield(holding, 'a')).toBe('TEST');
    expect(subfield(holding, 'b')).toBe('B00012345');
  });

  test('invented records are well formed and expectedMarc applies the §6.4 rules, across many books', () => {
    const dateTypes = new Set<string>();
    let droppedDates = 0;
    for (let index = 0; index < 300; index += 1) {
      const record = inventRecord(7, `BC${index}X`, 'TEST');
      const extracted = extractedMarc(record);
      expect(record.field008).toHaveLength(40);
      expect(record.field008.slice(7, 11)).toBe(record.date1);
      expect(record.field008.slice(11, 15)).toBe(record.date2);
      expect(record.field008.slice(35, 38)).toBe(record.language);
      expect(extracted.date1 === undefined).toBe(!/^\d{4}$/.test(record.date1) || record.date1.includes('999'));
      expect(extracted.date2 === undefined).toBe(!/^\d{4}$/.test(record.date2) || record.date2.includes('999'));
      if (extracted.date1 === undefined || extracted.date2 === undefined) droppedDates += 1;
      expect(extracted.subjects.every((subject) => !subject.endsWith('.'))).toBe(true);
      expect(extracted.personalAuthor ?? extracted.corporateAuthor).toBeTruthy();
      expect(record.isbns.every((isbn) => /^\d{9}[\dX]$/.test(isbn))).toBe(true);
      dateTypes.add(record.dateType);
    }
    expect(dateTypes).toEqual(new Set(['s', 'm']));
    expect(droppedDates).toBeGreaterThan(0);
  });

  test('rejects bad options with a message naming the field, and leaves no file behind', async () => {
    await expect(tarGz({ ...BASE, pages: 0 })).rejects.toThrow(/pages must be an integer/);
    await expect(tarGz({ ...BASE, pageImageBytes: MIN_PAGE_IMAGE_BYTES - 1 })).rejects.toThrow(
      /pageImageBytes must be an integer of at least/,
    );
    await expect(tarGz({ ...BASE, barcode: '../etc' })).rejects.toThrow(/barcode must be/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('defects', () => {
  const withDefect = async (defect: BookDefect) => {
    const opts = { ...BASE, defect };
    const { path } = await tarGz(opts);
    return { opts, path };
  };

  test("'checksum-mismatch': exactly one listed md5 is wrong", async () => {
    const entries = await readTar((await withDefect('checksum-mismatch')).path);
    expect(checksumFailures(entries)).toEqual(['00000001.txt']);
    expect(entries.some((entry) => entry.name === '00000001.txt')).toBe(true);
  });

  test("'missing-listed-file': checksum.md5 lists a file the tar does not hold", async () => {
    const entries = await readTar((await withDefect('missing-listed-file')).path);
    expect(checksumFailures(entries)).toEqual(['00000004.jp2']);
    expect(entries.some((entry) => entry.name === '00000004.jp2')).toBe(false);
  });

  test("'no-marc': the METS file is there but holds no MARC record", async () => {
    const { opts, path } = await withDefect('no-marc');
    const entries = await readTar(path);
    const mets = metsOf(entries, opts);
    expect(mets).toContain('http://www.loc.gov/METS/');
    expect(mets).not.toContain('MARC21/slim');
    expect(mets).not.toContain('record');
    expect(checksumFailures(entries)).toEqual([]);
  });

  test("'not-gzip': the bytes are an uncompressed tar, which gunzip refuses", async () => {
    const { path } = await withDefect('not-gzip');
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 2)).not.toEqual(Buffer.from([0x1f, 0x8b]));
    expect(() => gunzipSync(bytes)).toThrow();
    await expect(readTar(path)).rejects.toThrow();
    expect((await readTar(path, false)).map((entry) => entry.name)).toContain('checksum.md5');
  });

  test("'truncated-tar': valid gzip of a tar that stops in the middle of an entry", async () => {
    const { path } = await withDefect('truncated-tar');
    const tarBytes = gunzipSync(readFileSync(path)); // the gzip layer itself is intact
    // Cut in page 2's image data: header of 00000002.jp2 at a 512 boundary, then half its bytes.
    expect(tarBytes.length % 512).not.toBe(0);
    expect(tarBytes.includes(Buffer.from('00000002.jp2'))).toBe(true);
    expect(tarBytes.includes(Buffer.from('00000002.txt'))).toBe(false);
    await expect(readTar(path)).rejects.toThrow();
    expect(spawnSync('tar', ['-tzf', path]).status).not.toBe(0);
  });

  test("'missing-page-text': page 2 has no .txt, and checksum.md5 does not list one", async () => {
    const { opts, path } = await withDefect('missing-page-text');
    const entries = await readTar(path);
    const names = entries.map((entry) => entry.name);
    expect(names).not.toContain('00000002.txt');
    expect(names).toEqual(expect.arrayContaining(['00000001.txt', '00000003.txt', '00000002.jp2', '00000002.html']));
    expect(checksumFailures(entries)).toEqual([]);
    expect(expectedPageText(opts, 2)).toBeUndefined();
    expect(metsOf(entries, opts)).not.toContain('00000002.txt');
  });
});

describe('encryption', () => {
  test('writeEncryptedBookArchive decrypts with openpgp to the deterministic tar.gz; a wrong passphrase fails', async () => {
    const outPath = join(dir, 'B00012345.tar.gz.gpg');
    const { bytes } = await writeEncryptedBookArchive({ ...BASE, passphrase: PASSPHRASE }, outPath);
    expect(readdirSync(dir)).toEqual(['B00012345.tar.gz.gpg']); // temp tar.gz removed, no partial file
    const armoured = readFileSync(outPath);
    expect(armoured.length).toBe(bytes);

    const message = await openpgp.readMessage({ binaryMessage: armoured });
    // What GnuPG 2.2 reads: a v4 symmetric-key session key packet and SEIPD v1 (MDC), no AEAD.
    const packets = [...message.packets].map((packet) => [
      (packet.constructor as unknown as { tag: number }).tag,
      (packet as unknown as { version: number }).version,
    ]);
    expect(packets).toEqual([
      [openpgp.enums.packet.symEncryptedSessionKey, 4],
      [openpgp.enums.packet.symEncryptedIntegrityProtectedData, 1],
    ]);

    const decrypted = await openpgp.decrypt({ message, passwords: [PASSPHRASE], format: 'binary' });
    const data = Buffer.from(decrypted.data as Uint8Array);
    const reference = await tarGz(BASE, 'reference.tar.gz');
    expect(md5(data)).toBe(md5(readFileSync(reference.path)));
    expect(decrypted.filename).toBe('B00012345.tar.gz');

    const again = await openpgp.readMessage({ binaryMessage: armoured });
    await expect(openpgp.decrypt({ message: again, passwords: ['wrong words'], format: 'binary' })).rejects.toThrow();
  });

  test('encryptFile streams any file and records its name in the literal data packet', async () => {
    const input = join(dir, 'input.bin');
    const content = Buffer.concat(Array.from({ length: 40 }, (_, index) => Buffer.alloc(100 * 1024, index))); // 4 MB
    writeFileSync(input, content);
    const output = join(dir, 'input.bin.gpg');
    await encryptFile(input, output, PASSPHRASE, { literalName: 'renamed.tar.gz' });
    const message = await openpgp.readMessage({ binaryMessage: readFileSync(output) });
    const decrypted = await openpgp.decrypt({ message, passwords: [PASSPHRASE], format: 'binary' });
    expect(md5(Buffer.from(decrypted.data as Uint8Array))).toBe(md5(content));
    expect(decrypted.filename).toBe('renamed.tar.gz');
    await expect(encryptFile(input, output, '')).rejects.toThrow(/passphrase is empty/);
  });

  const gpgTest = hasGpg ? test : test.skip;

  /** `gpg --decrypt <file> | tar -tz`, with a throw-away GnuPG home; returns tar's listing. */
  function gpgDecryptAndList(encryptedPath: string): string[] {
    const home = mkdtempSync(join(tmpdir(), 'gnupg-'));
    const passphraseFile = join(dir, 'passphrase.txt');
    writeFileSync(passphraseFile, `${PASSPHRASE}\n`);
    try {
      const run = spawnSync(
        'bash',
        [
          '-o',
          'pipefail',
          '-c',
          '"$GPG" --homedir "$HOME_DIR" --batch --quiet --pinentry-mode loopback --passphrase-file "$PASS" --decrypt "$IN" | tar -tz',
        ],
        { encoding: 'utf8', env: { ...process.env, GPG, HOME_DIR: home, PASS: passphraseFile, IN: encryptedPath } },
      );
      if (run.status !== 0) throw new Error(`gpg | tar failed (${run.status}): ${run.stderr}`);
      return run.stdout.trim().split('\n');
    } finally {
      spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
      rmSync(home, { recursive: true, force: true });
    }
  }

  gpgTest('GnuPG decrypts the archive and GNU tar lists its entries', async () => {
    const outPath = join(dir, 'B00012345.tar.gz.gpg');
    await writeEncryptedBookArchive({ ...BASE, passphrase: PASSPHRASE }, outPath);
    expect(gpgDecryptAndList(outPath)).toEqual([
      '00000001.jp2',
      '00000001.txt',
      '00000001.html',
      '00000002.jp2',
      '00000002.txt',
      '00000002.html',
      '00000003.jp2',
      '00000003.txt',
      '00000003.html',
      'TEST_B00012345.xml',
      'checksum.md5',
    ]);
  });

  gpgTest.each(['zip', 'zlib'] as const)('GnuPG decrypts with %s compression too', async (compression) => {
    const tarPath = (await tarGz({ ...BASE, pages: 1 })).path;
    const outPath = join(dir, `compressed-${compression}.gpg`);
    await encryptFile(tarPath, outPath, PASSPHRASE, { compression });
    const message = await openpgp.readMessage({ binaryMessage: readFileSync(outPath) });
    const decrypted = await openpgp.decrypt({ message, passwords: [PASSPHRASE], format: 'binary' });
    expect(md5(Buffer.from(decrypted.data as Uint8Array))).toBe(md5(readFileSync(tarPath)));
    expect(gpgDecryptAndList(outPath)).toEqual(['00000001.jp2', '00000001.txt', '00000001.html', 'TEST_B00012345.xml', 'checksum.md5']);
  });

  gpgTest('a damaged archive is still encrypted correctly: gpg decrypts it, tar then refuses it', async () => {
    const outPath = join(dir, 'damaged.tar.gz.gpg');
    await writeEncryptedBookArchive({ ...BASE, defect: 'not-gzip', passphrase: PASSPHRASE }, outPath);
    expect(() => gpgDecryptAndList(outPath)).toThrow(/gpg \| tar failed/);
    const message = await openpgp.readMessage({ binaryMessage: readFileSync(outPath) });
    const decrypted = await openpgp.decrypt({ message, passwords: [PASSPHRASE], format: 'binary' });
    const plain = Buffer.from(decrypted.data as Uint8Array);
    expect(plain.subarray(257, 262).toString('latin1')).toBe('ustar'); // an uncompressed tar inside
  });
});

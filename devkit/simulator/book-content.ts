/**
 * Realistic, deterministic GRIN book archives for the simulator, tests and benchmarks
 * (PROTOCOL.md §6.1, §6.2, §6.4): a flat gzip tar with per-page JPEG 2000 images, OCR text and hOCR,
 * a METS file carrying a MARC21-slim record, and `checksum.md5`, optionally damaged on purpose, then
 * encrypted with a passphrase the way `gpg --symmetric` does.
 *
 * Everything streams: a 300 MB archive is generated and encrypted with bounded memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReadableStream } from 'node:stream/web';
import { createGzip } from 'node:zlib';
import * as openpgp from 'openpgp';
import { pack as tarPack, type Pack } from 'tar-stream';
import type { MarcRecord } from '../../src/archive/types';
import { escapeXml, extractedMarc, inventRecord, inventTitle, marcRecordXml } from './marc-record';
import { writeBombTarGz } from './bomb';
import { SeededRandom, seededByteChunks } from './book-random';

export type BookDefect =
  | 'none'
  | 'checksum-mismatch' // checksum.md5 gives a wrong md5 for 00000001.txt
  | 'missing-listed-file' // checksum.md5 lists one page image more than the tar holds
  | 'no-marc' // the METS file has no MARC record
  | 'not-gzip' // the "tar.gz" is an uncompressed tar (still encrypted)
  | 'truncated-tar' // valid gzip of a tar that stops in the middle of a page image
  | 'missing-page-text' // one page's .txt is absent (and not listed in checksum.md5)
  | 'hostile-path' // a first entry named `../<barcode>-escape.txt`: unpacking it would write outside the book's folder
  | 'decompression-bomb'; // one "page image" of 4 GiB of zeros in a ~4 MB tar.gz (see bomb.ts)

export interface BookContentOptions {
  directory: string; // library directory, e.g. 'TEST' (file name of METS is `<directory>_<barcode>.xml`)
  barcode: string;
  seed: number; // same inputs => byte-identical output
  pages: number; // page count (>=1)
  pageImageBytes: number; // size of each 00000001.jp2 (random bytes after a real JP2 signature box)
  title?: string;
  /** Damage for fault injection: */
  defect?: BookDefect;
}

const GZIP_LEVEL = 6; // zlib's default, what `gzip` and Python's tarfile write

/** Deterministic invented title of a book (its MARC 245$a unless `title` overrides it). */
export function bookTitle(seed: number, barcode: string): string {
  return inventTitle(seed, barcode);
}

/**
 * The MARC values the archive's METS file carries, as an extractor following PROTOCOL.md §6.4 should
 * report them (dates that are not plain years dropped, trailing '.' of subjects and genres stripped,
 * only `(OCoLC)` 035 entries). With defect 'no-marc' the archive carries none of this.
 */
export function expectedMarc(opts: BookContentOptions): MarcRecord {
  return extractedMarc(inventRecord(opts.seed, opts.barcode, opts.directory, opts.title));
}

export function pageName(page: number, extension: 'jp2' | 'txt' | 'html'): string {
  return `${String(page).padStart(8, '0')}.${extension}`;
}

export function metsFileName(opts: Pick<BookContentOptions, 'directory' | 'barcode'>): string {
  return `${opts.directory}_${opts.barcode}.xml`;
}

/** Page whose .txt the 'missing-page-text' defect leaves out: a gap, not the end, when there are 2+ pages. */
export function missingTextPage(opts: Pick<BookContentOptions, 'pages'>): number {
  return Math.min(2, opts.pages);
}

// ---- OCR text and hOCR ------------------------------------------------------------------------

const WORDS = [
  'the',
  'of',
  'and',
  'to',
  'in',
  'a',
  'was',
  'which',
  'that',
  'with',
  'his',
  'her',
  'from',
  'upon',
  'by',
  'river',
  'village',
  'winter',
  'church',
  'road',
  'letter',
  'journey',
  'morning',
  'garden',
  'harbour',
  'house',
  'said',
  'found',
  'returned',
  'observed',
  'remained',
  'walked',
  'wrote',
  'believed',
  'described',
  'small',
  'ancient',
  'quiet',
  'great',
  'northern',
  'certain',
  'several',
  'remarkable',
  'narrow',
  'café',
  'naïve',
  'début',
  'rôle',
  'façade',
  'élite',
  'protégé',
  'señor',
  'Zürich',
  'Québec',
];

/** Lines of words on one page: a running head, then prose sentences wrapped into lines. */
function pageLines(opts: BookContentOptions, page: number): string[][] {
  const random = new SeededRandom(`${opts.seed}|${opts.barcode}|page|${page}`);
  const title = opts.title ?? bookTitle(opts.seed, opts.barcode);
  const head = title.toUpperCase().split(/\s+/).slice(0, 4);
  const lines: string[][] = [page % 2 === 0 ? [String(page), ...head] : [...head, String(page)]];
  const lineCount = random.int(6, 9);
  let sentenceStart = true;
  for (let line = 0; line < lineCount; line += 1) {
    const words: string[] = [];
    const wordCount = random.int(6, 10);
    for (let index = 0; index < wordCount; index += 1) {
      let word = random.pick(WORDS);
      if (sentenceStart) word = word.charAt(0).toUpperCase() + word.slice(1);
      sentenceStart = random.chance(0.12);
      if (sentenceStart) word += '.';
      else if (random.chance(0.06)) word += ',';
      words.push(word);
    }
    lines.push(words);
  }
  return lines;
}

/** The exact content of a page's .txt file (or undefined when the defect leaves it out). */
export function expectedPageText(opts: BookContentOptions, page: number): string | undefined {
  if (opts.defect === 'missing-page-text' && page === missingTextPage(opts)) return undefined;
  const text =
    pageLines(opts, page)
      .map((words) => words.join(' '))
      .join('\n') + '\n';
  // Some OCR pages end with a form feed; readers must keep or tolerate it.
  return page % 3 === 0 ? `${text}\f` : text;
}

function hocrPage(opts: BookContentOptions, page: number, width: number, height: number): string {
  const lines = pageLines(opts, page);
  const margin = 180;
  const lineHeight = Math.floor((height - 2 * margin) / (lines.length + 1));
  const body = lines.map((words, lineIndex) => {
    const top = margin + lineIndex * lineHeight;
    const bottom = top + Math.floor(lineHeight * 0.7);
    let left = margin;
    const spans = words.map((word, wordIndex) => {
      const right = left + 28 * [...word].length;
      const span = `<span class="ocrx_word" id="word_${page}_${lineIndex + 1}_${wordIndex + 1}" title="bbox ${left} ${top} ${right} ${bottom}; x_wconf ${90 + ((lineIndex + wordIndex) % 10)}">${escapeXml(word)}</span>`;
      left = right + 24;
      return span;
    });
    return `<span class="ocr_line" id="line_${page}_${lineIndex + 1}" title="bbox ${margin} ${top} ${left} ${bottom}">${spans.join(' ')}</span>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
    '<head>',
    '<title></title>',
    '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />',
    '<meta name="ocr-system" content="grin-pipeline simulator" />',
    '<meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word" />',
    '</head>',
    '<body>',
    `<div class="ocr_page" id="page_${page}" title="image ${pageName(page, 'jp2')}; bbox 0 0 ${width} ${height}; ppageno ${page - 1}">`,
    ...body,
    '</div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// ---- JPEG 2000 page images --------------------------------------------------------------------

function box(type: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + payload.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, payload]);
}

/** JP2 signature, file type and header boxes, then the start of a jp2c box holding `codestreamBytes`. */
function jp2Prefix(width: number, height: number, codestreamBytes: number): Buffer {
  const signature = box('jP  ', Buffer.from([0x0d, 0x0a, 0x87, 0x0a]));
  const fileType = box('ftyp', Buffer.concat([Buffer.from('jp2 ', 'latin1'), Buffer.alloc(4), Buffer.from('jp2 ', 'latin1')]));
  const imageHeader = Buffer.alloc(14);
  imageHeader.writeUInt32BE(height, 0);
  imageHeader.writeUInt32BE(width, 4);
  imageHeader.writeUInt16BE(3, 8); // three components
  imageHeader.writeUInt8(7, 10); // 8 bits per component
  imageHeader.writeUInt8(7, 11); // wavelet compression
  const colour = Buffer.from([1, 0, 0, 0, 0, 0, 16]); // enumerated sRGB
  const header = box('jp2h', Buffer.concat([box('ihdr', imageHeader), box('colr', colour)]));
  const codestreamBox = Buffer.alloc(8);
  codestreamBox.writeUInt32BE(8 + codestreamBytes, 0);
  codestreamBox.write('jp2c', 4, 'latin1');
  return Buffer.concat([signature, fileType, header, codestreamBox]);
}

const START_OF_CODESTREAM = Buffer.from([0xff, 0x4f, 0xff, 0x51]);
const END_OF_CODESTREAM = Buffer.from([0xff, 0xd9]);
/** Smallest `pageImageBytes` that still holds the JP2 boxes and codestream markers. */
export const MIN_PAGE_IMAGE_BYTES = jp2Prefix(1, 1, 0).length + START_OF_CODESTREAM.length + END_OF_CODESTREAM.length;

function pageDimensions(opts: BookContentOptions, page: number): { width: number; height: number } {
  const random = new SeededRandom(`${opts.seed}|${opts.barcode}|dimensions|${page}`);
  return { width: random.int(2300, 2600), height: random.int(3400, 3900) };
}

function* pageImageChunks(opts: BookContentOptions, page: number): Generator<Buffer> {
  const { width, height } = pageDimensions(opts, page);
  const codestreamBytes = opts.pageImageBytes - jp2Prefix(width, height, 0).length;
  yield Buffer.concat([jp2Prefix(width, height, codestreamBytes), START_OF_CODESTREAM]);
  const randomBytesCount = codestreamBytes - START_OF_CODESTREAM.length - END_OF_CODESTREAM.length;
  yield* seededByteChunks(`${opts.seed}|${opts.barcode}|jp2|${page}`, randomBytesCount);
  yield END_OF_CODESTREAM;
}

// ---- METS -------------------------------------------------------------------------------------

interface WrittenFile {
  name: string;
  size: number;
  md5: string;
}

function metsDocument(opts: BookContentOptions, files: WrittenFile[], created: Date): string {
  const objectId = `${opts.directory}_${opts.barcode}`;
  const record = inventRecord(opts.seed, opts.barcode, opts.directory, opts.title);
  const dmdSec =
    opts.defect === 'no-marc'
      ? []
      : [
          '  <METS:dmdSec ID="DMD1">',
          `    <METS:mdWrap MDTYPE="MARC" LABEL="MARC metadata for ${escapeXml(objectId)}">`,
          '      <METS:xmlData>',
          marcRecordXml(record, '        '),
          '      </METS:xmlData>',
          '    </METS:mdWrap>',
          '  </METS:dmdSec>',
        ];
  const groups: Array<[string, string, string]> = [
    ['image', 'jp2', 'image/jp2'],
    ['ocr', 'txt', 'text/plain'],
    ['hocr', 'html', 'text/html'],
  ];
  const fileSec = groups.flatMap(([use, extension, mime]) => [
    `    <METS:fileGrp USE="${use}">`,
    ...files
      .filter((file) => file.name.endsWith(`.${extension}`))
      .map(
        (file) =>
          `      <METS:file ID="${extension.toUpperCase()}${file.name.slice(0, 8)}" MIMETYPE="${mime}" SIZE="${file.size}" CHECKSUM="${file.md5}" CHECKSUMTYPE="MD5">` +
          `<METS:FLocat LOCTYPE="OTHER" OTHERLOCTYPE="SYSTEM" xlink:href="${file.name}"/></METS:file>`,
      ),
    '    </METS:fileGrp>',
  ]);
  const pageDivs = Array.from({ length: opts.pages }, (_, index) => {
    const prefix = String(index + 1).padStart(8, '0');
    const pointers = files
      .filter((file) => file.name.startsWith(prefix))
      .map((file) => `<METS:fptr FILEID="${file.name.slice(9).toUpperCase()}${prefix}"/>`)
      .join('');
    return `      <METS:div TYPE="page" ORDER="${index + 1}">${pointers}</METS:div>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<METS:mets xmlns:METS="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink" OBJID="${escapeXml(objectId)}">`,
    `  <METS:metsHdr CREATEDATE="${created.toISOString().replace(/\.\d{3}Z$/, 'Z')}">`,
    '    <METS:agent ROLE="CREATOR" TYPE="ORGANIZATION"><METS:name>Google, Inc.</METS:name></METS:agent>',
    '  </METS:metsHdr>',
    ...dmdSec,
    '  <METS:fileSec>',
    ...fileSec,
    '  </METS:fileSec>',
    '  <METS:structMap TYPE="physical">',
    '    <METS:div TYPE="volume">',
    ...pageDivs,
    '    </METS:div>',
    '  </METS:structMap>',
    '</METS:mets>',
    '',
  ].join('\n');
}

// ---- the tar.gz -------------------------------------------------------------------------------

interface PlannedEntry {
  name: string;
  size: number;
  chunks: () => Iterable<Buffer>;
}

const TAR_BLOCK = 512;

function tarEntryBytes(size: number): number {
  return TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

function validateOptions(opts: BookContentOptions): void {
  if (!/^[A-Za-z0-9_-]{1,50}$/.test(opts.directory)) {
    throw new Error(`BookContentOptions.directory must be 1-50 characters of [A-Za-z0-9_-], got ${JSON.stringify(opts.directory)}`);
  }
  if (!/^[A-Za-z0-9_-]{3,50}$/.test(opts.barcode)) {
    throw new Error(`BookContentOptions.barcode must be 3-50 characters of [A-Za-z0-9_-], got ${JSON.stringify(opts.barcode)}`);
  }
  if (!Number.isInteger(opts.pages) || opts.pages < 1 || opts.pages > 999_999) {
    throw new Error(`BookContentOptions.pages must be an integer from 1 to 999999, got ${opts.pages}`);
  }
  if (!Number.isInteger(opts.pageImageBytes) || opts.pageImageBytes < MIN_PAGE_IMAGE_BYTES) {
    throw new Error(`BookContentOptions.pageImageBytes must be an integer of at least ${MIN_PAGE_IMAGE_BYTES}, got ${opts.pageImageBytes}`);
  }
  if (!Number.isSafeInteger(opts.seed)) throw new Error(`BookContentOptions.seed must be a safe integer, got ${opts.seed}`);
}

function pageEntries(opts: BookContentOptions): PlannedEntry[] {
  const entries: PlannedEntry[] = [];
  for (let page = 1; page <= opts.pages; page += 1) {
    entries.push({ name: pageName(page, 'jp2'), size: opts.pageImageBytes, chunks: () => pageImageChunks(opts, page) });
    const text = expectedPageText(opts, page);
    if (text !== undefined) {
      const bytes = Buffer.from(text, 'utf8');
      entries.push({ name: pageName(page, 'txt'), size: bytes.length, chunks: () => [bytes] });
    }
    const { width, height } = pageDimensions(opts, page);
    const html = Buffer.from(hocrPage(opts, page, width, height), 'utf8');
    entries.push({ name: pageName(page, 'html'), size: html.length, chunks: () => [html] });
  }
  return entries;
}

/** What the 'decompression-bomb' defect unpacks to: 4 GiB, from about 4 MB. */
const BOMB_MEBIBYTES = 4096;

/** Passes on the first `limit` bytes and swallows the rest (the 'truncated-tar' defect). */
class ByteLimit extends Transform {
  private passed = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const room = this.limit - this.passed;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.passed += part.length;
      this.push(part);
    }
    callback();
  }
}

function writeEntry(
  pack: Pack,
  header: { name: string; size: number; mtime: Date },
  chunks: Iterable<Buffer>,
  md5: ReturnType<typeof createHash>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ ...header, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '' }, (error) =>
      error ? reject(error) : resolve(),
    );
    const iterator = chunks[Symbol.iterator]();
    // Write until the entry's buffer is full, then continue on 'drain': memory stays at one buffer.
    const writeMore = (): void => {
      for (;;) {
        const next = iterator.next();
        if (next.done) {
          entry.end(undefined); // streamx types require the argument
          return;
        }
        md5.update(next.value);
        if (!entry.write(next.value)) {
          entry.once('drain', writeMore);
          return;
        }
      }
    };
    entry.once('error', reject);
    writeMore();
  });
}

/** Name of the entry the 'hostile-path' defect puts first: a path that climbs out of the extraction folder. */
export function hostileEntryName(barcode: string): string {
  return `../${barcode}-escape.txt`;
}

async function produceTar(opts: BookContentOptions, pack: Pack, mtime: Date): Promise<number> {
  const written: WrittenFile[] = [];
  if (opts.defect === 'hostile-path') {
    // Not listed in checksum.md5: a safe extractor refuses the archive before it gets that far.
    const payload = Buffer.from(`written outside the book's folder by ${opts.barcode}\n`, 'utf8');
    await writeEntry(pack, { name: hostileEntryName(opts.barcode), size: payload.length, mtime }, [payload], createHash('md5'));
  }
  for (const entry of pageEntries(opts)) {
    const md5 = createHash('md5');
    await writeEntry(pack, { name: entry.name, size: entry.size, mtime }, entry.chunks(), md5);
    written.push({ name: entry.name, size: entry.size, md5: md5.digest('hex') });
  }
  const mets = Buffer.from(metsDocument(opts, written, mtime), 'utf8');
  const metsMd5 = createHash('md5');
  await writeEntry(pack, { name: metsFileName(opts), size: mets.length, mtime }, [mets], metsMd5);
  written.push({ name: metsFileName(opts), size: mets.length, md5: metsMd5.digest('hex') });

  const listed = written.map((file) => ({ ...file }));
  if (opts.defect === 'checksum-mismatch') {
    const victim = listed.find((file) => file.name === pageName(1, 'txt'));
    if (victim) victim.md5 = createHash('md5').update(`not ${victim.md5}`).digest('hex');
  }
  if (opts.defect === 'missing-listed-file') {
    listed.push({
      name: pageName(opts.pages + 1, 'jp2'),
      size: opts.pageImageBytes,
      md5: createHash('md5').update(`absent ${opts.barcode}`).digest('hex'),
    });
  }
  const checksums = Buffer.from(listed.map((file) => `${file.md5}  ${file.name}\n`).join(''), 'utf8');
  await writeEntry(pack, { name: 'checksum.md5', size: checksums.length, mtime }, [checksums], createHash('md5'));
  pack.finalize();
  return written.length + 1;
}

/** Where the 'truncated-tar' defect cuts: about halfway through the middle page's image data. */
function truncationOffset(opts: BookContentOptions): number {
  const cutPage = Math.ceil(opts.pages / 2);
  let offset = 0;
  for (const entry of pageEntries(opts)) {
    if (entry.name === pageName(cutPage, 'jp2')) {
      // Off a 512-byte block boundary, like a download that stopped at an arbitrary byte.
      const half = Math.floor(entry.size / 2);
      return offset + TAR_BLOCK + half + (half % TAR_BLOCK === 0 ? 100 : 0);
    }
    offset += tarEntryBytes(entry.size);
  }
  throw new Error(`internal: no image entry for page ${cutPage}`);
}

function temporaryPathNextTo(path: string, purpose: string): string {
  return join(dirname(path), `.${basename(path)}.${purpose}-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes to a temporary file next to `outPath` and renames it into place only when complete. */
async function writeAtomically<T>(outPath: string, write: (tempPath: string) => Promise<T>): Promise<T> {
  const tempPath = temporaryPathNextTo(outPath, 'partial');
  try {
    const result = await write(tempPath);
    await rename(tempPath, outPath);
    return result;
  } catch (error) {
    await rm(tempPath, { force: true });
    throw error;
  }
}

/**
 * Writes the book's gzip tar to `outPath` (atomically), streaming: only one chunk of a page image
 * is in memory at a time. `files` counts the entries written into the tar, as planned (for
 * 'truncated-tar' the later ones are cut off).
 */
export async function writeBookTarGz(opts: BookContentOptions, outPath: string): Promise<{ bytes: number; files: number }> {
  validateOptions(opts);
  if (opts.defect === 'decompression-bomb') {
    return writeAtomically(outPath, async (tempPath) => ({
      ...(await writeBombTarGz(tempPath, pageName(1, 'jp2'), BOMB_MEBIBYTES)),
      files: 1,
    }));
  }
  // A fixed, per-book modification time keeps the tar headers (and so the bytes) reproducible.
  const mtime = new Date(Date.UTC(2015, 0, 1) + new SeededRandom(`${opts.seed}|${opts.barcode}|mtime`).int(0, 3000) * 86_400_000);
  return writeAtomically(outPath, async (tempPath) => {
    const pack = tarPack();
    const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [];
    if (opts.defect === 'truncated-tar') stages.push(new ByteLimit(truncationOffset(opts)));
    if (opts.defect !== 'not-gzip') stages.push(createGzip({ level: GZIP_LEVEL }));
    const output = createWriteStream(tempPath);
    const piped = pipeline([pack as unknown as NodeJS.ReadableStream, ...stages, output]);
    const produced = produceTar(opts, pack, mtime).catch((error: unknown) => {
      pack.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    });
    const [, files] = await Promise.all([piped, produced]);
    return { bytes: (await stat(tempPath)).size, files };
  });
}

// ---- encryption -------------------------------------------------------------------------------

const COMPRESSION = {
  none: openpgp.enums.compression.uncompressed,
  zip: openpgp.enums.compression.zip,
  zlib: openpgp.enums.compression.zlib,
} as const;

const READ_CHUNK_BYTES = 1024 * 1024;

/** A Web stream over a file that reads the next chunk only when openpgp asks for it (bounded memory). */
async function fileWebStream(path: string): Promise<ReadableStream<Uint8Array>> {
  const handle = await open(path, 'r');
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
          const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK_BYTES, null);
          if (bytesRead === 0) {
            await handle.close();
            controller.close();
          } else {
            controller.enqueue(buffer.subarray(0, bytesRead));
          }
        } catch (error) {
          await handle.close().catch(() => undefined);
          controller.error(error);
        }
      },
      async cancel() {
        await handle.close();
      },
    },
    { highWaterMark: 1 },
  );
}

/**
 * Encrypts `inPath` to `outPath` (atomically) as OpenPGP with a passphrase only, as
 * `gpg --symmetric` does: SKESK v4 (iterated+salted S2K) and SEIPD v1 with MDC, AES-256, which
 * GnuPG 2.2 decrypts. Compression defaults to none, which is what gpg does for an input that is
 * already gzip. The literal data packet carries `literalName` (default: the input's file name).
 */
export async function encryptFile(
  inPath: string,
  outPath: string,
  passphrase: string,
  opts?: { compression?: 'none' | 'zip' | 'zlib'; literalName?: string },
): Promise<{ bytes: number }> {
  if (passphrase.length === 0) throw new Error('encryptFile: the passphrase is empty; give the library passphrase');
  const compression = opts?.compression ?? 'none';
  if (!(compression in COMPRESSION))
    throw new Error(`encryptFile: compression must be 'none', 'zip' or 'zlib', got ${JSON.stringify(compression)}`);
  const { mtime } = await stat(inPath);
  return writeAtomically(outPath, async (tempPath) => {
    const message = await openpgp.createMessage({
      binary: await fileWebStream(inPath),
      filename: opts?.literalName ?? basename(inPath),
      date: mtime,
      format: 'binary',
    });
    const encrypted = await openpgp.encrypt({
      message,
      passwords: [passphrase],
      format: 'binary',
      // Pinned rather than inherited from openpgp's defaults: SEIPDv1 is what GnuPG 2.2 reads.
      config: {
        aeadProtect: false,
        preferredCompressionAlgorithm: COMPRESSION[compression],
        preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
      },
    });
    const output: Writable = createWriteStream(tempPath);
    await pipeline(Readable.fromWeb(encrypted as unknown as ReadableStream<Uint8Array>), output);
    return { bytes: (await stat(tempPath)).size };
  });
}

/**
 * Generates the book's tar.gz into a temporary file next to `outPath`, encrypts it to `outPath`
 * (atomically) and removes the temporary file. The encrypted bytes differ on every call (random
 * salt and session key, as with gpg); the decrypted tar.gz is byte-identical for the same options.
 */
export async function writeEncryptedBookArchive(
  opts: BookContentOptions & { passphrase: string },
  outPath: string,
): Promise<{ bytes: number }> {
  const { passphrase, ...content } = opts;
  const tarPath = temporaryPathNextTo(outPath, 'tar-gz');
  try {
    await writeBookTarGz(content, tarPath);
    return await encryptFile(tarPath, outPath, passphrase, { literalName: `${opts.barcode}.tar.gz` });
  } finally {
    await rm(tarPath, { force: true });
  }
}

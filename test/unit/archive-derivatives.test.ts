import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { makeDerivatives } from '../../src/archive/derivatives';
import { NoOcrTextError } from '../../src/archive/errors';
import { extractMarc, marcFromXml } from '../../src/archive/marc';
import { writeOcrJsonl } from '../../src/archive/ocr';
import { SAMPLE_METS, removeDir, tempDir } from './archive-fixtures';

function readJsonl(file: string): unknown[] {
  const text = gunzipSync(readFileSync(file)).toString('utf8');
  return text === ''
    ? []
    : text
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
}

describe('writeOcrJsonl', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  it('writes pages in numeric order, "" for gaps, replaces non-UTF-8 bytes, skips other .txt names', async () => {
    const book = join(dir, 'book');
    mkdirSync(join(book, 'sub'), { recursive: true });
    writeFileSync(join(book, '00000003.txt'), 'third "quoted"\nline two');
    writeFileSync(join(book, '00000001.txt'), 'first — ünïcödé');
    writeFileSync(join(book, 'sub', '00000005.txt'), Buffer.from([0x61, 0xff, 0xfe, 0x62])); // invalid UTF-8
    writeFileSync(join(book, 'notes.txt'), 'not a page');
    writeFileSync(join(book, '1.txt'), 'not a page either');
    writeFileSync(join(book, '00000000.txt'), 'page zero is not a page');
    writeFileSync(join(book, '00000002.html'), '<html/>');

    const out = join(dir, 'B_ocr.jsonl.gz');
    await expect(writeOcrJsonl(book, out)).resolves.toEqual({ pageCount: 5 });
    const raw = readFileSync(out);
    expect(raw[0]).toBe(0x1f);
    expect(raw[8]).toBe(4); // gzip header XFL=4: fastest compression (level 1)
    expect(readJsonl(out)).toEqual(['first — ünïcödé', '', 'third "quoted"\nline two', '', 'a\uFFFD\uFFFDb']);
    // ensure_ascii=False: non-ASCII is written as is, not as \u escapes
    expect(gunzipSync(raw).toString('utf8')).toContain('ünïcödé');
  });

  it('throws NoOcrTextError and writes nothing when there is no page text', async () => {
    writeFileSync(join(dir, 'readme.txt'), 'x');
    await expect(writeOcrJsonl(dir, join(dir, 'o.jsonl.gz'))).rejects.toThrow(NoOcrTextError);
  });
});

describe('MARC extraction', () => {
  it('reads every §6.4 field from a METS file with prefixed namespaces', () => {
    expect(marcFromXml(SAMPLE_METS)).toEqual({
      controlNumber: '990012345',
      dateType: 's',
      date1: '1885',
      language: 'eng',
      lccn: '05012345',
      lcCallNumbers: ['PR4034'],
      isbns: ['0123456789', '9780123456786'],
      oclcNumbers: ['(OCoLC)ocm00012345'],
      title: 'Pride & prejudice :',
      titleRemainder: 'a novel <in three volumes> /',
      personalAuthor: 'Austen, Jane,',
      corporateAuthor: 'Royal Society & Friends',
      meetingAuthor: 'Congrès international',
      subjects: ['Courtship', 'Sisters'],
      genres: ['Domestic fiction'],
      notes: ['First note.', 'Second note <raw>.'],
    });
  });

  it('reads a record with a default namespace, no METS wrapper, and applies the date rules', () => {
    const xml = `<?xml version="1.0"?>
      <!DOCTYPE collection [ <!ENTITY x "y"> ]>
      <collection xmlns="http://www.loc.gov/MARC21/slim"><record>
        <controlfield tag='001'>abc</controlfield>
        <controlfield tag="008">850101m19999999xx            000 0 fre d</controlfield>
        <datafield tag="245"><subfield code="a">Titre</subfield></datafield>
      </record></collection>`;
    const record = marcFromXml(xml);
    expect(record).toMatchObject({ controlNumber: 'abc', dateType: 'm', language: 'fre', title: 'Titre', subjects: [] });
    expect(record?.date1).toBeUndefined(); // contains 999
    expect(record?.date2).toBeUndefined();
    const uu = marcFromXml(xml.replace('m19999999', 's19uu    '));
    expect(uu?.date1).toBeUndefined(); // not numeric
    const range = marcFromXml(xml.replace('m19999999', 'm18801885'));
    expect([range?.date1, range?.date2]).toEqual(['1880', '1885']);
  });

  it('a record under 100,000 nested elements is still found: the XML reader and its search keep explicit stacks', () => {
    const depth = 100_000;
    const record = `<record xmlns="http://www.loc.gov/MARC21/slim"><controlfield tag="001">deep</controlfield></record>`;
    const xml = '<w>'.repeat(depth) + record + '</w>'.repeat(depth);
    expect(marcFromXml(xml)).toMatchObject({ controlNumber: 'deep' });
    // Unclosed, and no record at all: no record, no stack overflow.
    expect(marcFromXml('<w>'.repeat(depth))).toBeNull();
  });

  it('takes another prefix for the MARC namespace and ignores records in other namespaces', () => {
    const xml = `<m:mets xmlns:m="http://www.loc.gov/METS/" xmlns:x="urn:other">
      <x:record><x:controlfield tag="001">wrong</x:controlfield></x:record>
      <m:xmlData><slim:record xmlns:slim="http://www.loc.gov/MARC21/slim">
        <slim:controlfield tag="001">right</slim:controlfield></slim:record></m:xmlData></m:mets>`;
    expect(marcFromXml(xml)?.controlNumber).toBe('right');
  });

  it('gives null for XML without a MARC record and for text that is not XML', () => {
    expect(marcFromXml('<mets:mets xmlns:mets="http://www.loc.gov/METS/"><mets:dmdSec/></mets:mets>')).toBeNull();
    expect(marcFromXml('<<< not xml')).toBeNull();
  });

  it('extractMarc uses the first XML in the folder that holds a record', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, 'AAA_other.xml'), '<root/>');
      writeFileSync(join(dir, 'TEST_B1.xml'), SAMPLE_METS);
      expect((await extractMarc(dir))?.controlNumber).toBe('990012345');
    } finally {
      removeDir(dir);
    }
  });
});

describe('makeDerivatives', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  it('writes <barcode>_ocr.jsonl.gz and <barcode>_marc.json', async () => {
    const book = join(dir, 'book');
    mkdirSync(book);
    writeFileSync(join(book, '00000001.txt'), 'one');
    writeFileSync(join(book, 'TEST_B1.xml'), SAMPLE_METS);
    const result = await makeDerivatives(book, 'B1', join(dir, 'out'));
    expect(result).toEqual({
      ocrPath: join(dir, 'out', 'B1_ocr.jsonl.gz'),
      pageCount: 1,
      marcPath: join(dir, 'out', 'B1_marc.json'),
      hasMarc: true,
      notes: [],
    });
    expect(readJsonl(result.ocrPath)).toEqual(['one']);
    const marc = JSON.parse(readFileSync(result.marcPath, 'utf8')) as { barcode: string; hasMarc: boolean; marc: { title: string } };
    expect(marc).toMatchObject({ barcode: 'B1', hasMarc: true, marc: { title: 'Pride & prejudice :' } });
  });

  it('still stores a book without OCR text or MARC, saying so', async () => {
    const result = await makeDerivatives(dir, 'B2', join(dir, 'out'));
    expect(result).toMatchObject({ pageCount: 0, hasMarc: false });
    expect(result.notes.join(' ')).toMatch(/no OCR page text.*no MARC record/);
    expect(readJsonl(result.ocrPath)).toEqual([]);
    expect(JSON.parse(readFileSync(result.marcPath, 'utf8'))).toEqual({
      barcode: 'B2',
      hasMarc: false,
      marc: null,
      note: 'The archive has no MARC record (no METS XML with a MARC21 record).',
    });
  });

  it('refuses a barcode that could be a path', async () => {
    await expect(makeDerivatives(dir, '../B3', dir)).rejects.toThrow(/Invalid barcode/);
  });
});

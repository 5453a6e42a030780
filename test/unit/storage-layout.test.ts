import { DEFAULT_STORAGE_LAYOUT } from '../../src/config/schema';
import { assertSafeKey, normalizeMetadata, storageKey } from '../../src/storage/layout';
import { MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE, MULTIPART_THRESHOLD, choosePartSize, partCount } from '../../src/storage/part-size';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe('storageKey', () => {
  test('fills the default layout', () => {
    expect(storageKey(DEFAULT_STORAGE_LAYOUT, 'archive', '32101068477386')).toBe('raw/32101068477386/32101068477386.tar.gz');
    expect(storageKey(DEFAULT_STORAGE_LAYOUT, 'ocr', 'ABC_12-3')).toBe('full/ABC_12-3/ABC_12-3_ocr.jsonl.gz');
    expect(storageKey(DEFAULT_STORAGE_LAYOUT, 'marc', 'HX4ZB1')).toBe('meta/HX4ZB1/HX4ZB1_marc.json');
    expect(storageKey(DEFAULT_STORAGE_LAYOUT, 'token', 'HX4ZB1')).toBe('meta/HX4ZB1/HX4ZB1.token.json');
  });

  test('uses a custom template', () => {
    const layout = { ...DEFAULT_STORAGE_LAYOUT, archive: 'books/{barcode}.tgz' };
    expect(storageKey(layout, 'archive', 'B123')).toBe('books/B123.tgz');
  });

  test.each(['', 'ab', 'a'.repeat(51), '../etc', 'a/b/c', 'has space', 'dot.ted', 'x\u0000y', 'ünï'])('refuses barcode %j', (barcode) => {
    expect(() => storageKey(DEFAULT_STORAGE_LAYOUT, 'archive', barcode)).toThrow(/Invalid barcode/);
  });

  test('accepts barcodes of 3 and 50 characters', () => {
    expect(storageKey(DEFAULT_STORAGE_LAYOUT, 'marc', 'abc')).toBe('meta/abc/abc_marc.json');
    expect(() => storageKey(DEFAULT_STORAGE_LAYOUT, 'marc', 'a'.repeat(50))).not.toThrow();
  });

  test('refuses templates that produce escaping keys', () => {
    expect(() => storageKey({ ...DEFAULT_STORAGE_LAYOUT, ocr: '../{barcode}.gz' }, 'ocr', 'B123')).toThrow(/'\.\.'/);
    expect(() => storageKey({ ...DEFAULT_STORAGE_LAYOUT, ocr: '/abs/{barcode}.gz' }, 'ocr', 'B123')).toThrow(/starts with '\/'/);
    expect(() => storageKey({ ...DEFAULT_STORAGE_LAYOUT, ocr: '' }, 'ocr', 'B123')).toThrow(/no template for 'ocr'/);
  });
});

describe('assertSafeKey', () => {
  test.each(['a/../b', '/a', 'a\\b', 'a/', '', 'a\nb'])('refuses %j', (key) => {
    expect(() => assertSafeKey(key)).toThrow(/Refusing storage key/);
  });
  test('accepts ordinary keys', () => {
    expect(() => assertSafeKey('raw/B1/B1.tar.gz')).not.toThrow();
  });
});

describe('normalizeMetadata', () => {
  test("lower-cases names, uses '_' as separator and keeps values", () => {
    expect(normalizeMetadata({ Barcode: 'B1', GRIN_ETag: 'abc', 'Original-Filename': 'B1.tar.gz.gpg' })).toEqual({
      barcode: 'B1',
      grin_etag: 'abc',
      original_filename: 'B1.tar.gz.gpg',
    });
  });
  test('refuses non-ASCII values and odd names', () => {
    expect(() => normalizeMetadata({ title: 'Café' })).toThrow(/printable ASCII/);
    expect(() => normalizeMetadata({ 'bad name': 'x' })).toThrow(/metadata name/);
  });
});

describe('choosePartSize', () => {
  test.each([
    [0, 8 * MiB],
    [1, 8 * MiB],
    [MULTIPART_THRESHOLD, 8 * MiB],
    [1 * GiB, 8 * MiB],
    [70 * GiB, 8 * MiB],
    [80 * GiB, 10 * MiB], // ceil(80 GiB / 9000) = 9.1 MiB -> 10 MiB
    [1 * TiB, 117 * MiB],
    [5 * TiB, 583 * MiB],
  ])('file of %d bytes -> part size %d', (size, expected) => {
    expect(choosePartSize(size)).toBe(expected);
  });

  test.each([0, 5 * MiB, 100 * GiB, 777 * GiB + 12345, 5 * TiB, 5 * 1000 ** 4])('size %d: parts within S3 limits', (size) => {
    const part = choosePartSize(size);
    expect(part).toBeGreaterThanOrEqual(MIN_PART_SIZE);
    expect(part).toBeLessThanOrEqual(MAX_PART_SIZE);
    expect(part % MiB).toBe(0);
    expect(partCount(size, part)).toBeLessThanOrEqual(MAX_PARTS);
  });

  test('refuses impossible sizes', () => {
    expect(() => choosePartSize(-1)).toThrow(/file size -1/);
    expect(() => choosePartSize(Number.NaN)).toThrow(/file size/);
    expect(() => choosePartSize(5 * TiB + 1)).toThrow(/5 TiB/);
  });

  test('partCount is at least one', () => {
    expect(partCount(0, 8 * MiB)).toBe(1);
    expect(partCount(8 * MiB, 8 * MiB)).toBe(1);
    expect(partCount(8 * MiB + 1, 8 * MiB)).toBe(2);
  });
});

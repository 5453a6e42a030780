import { formatBarcodeListProblems, InvalidBarcodeError, isValidBarcode, parseBarcodeList, validateBarcode } from '../../src/buckets';

describe('validateBarcode', () => {
  test.each(['32101067995035', 'abc', 'A_B-c9', 'x'.repeat(50)])('accepts %j', (barcode) => {
    expect(validateBarcode(barcode)).toBe(barcode);
    expect(isValidBarcode(barcode)).toBe(true);
  });

  test.each(['', 'ab', 'x'.repeat(51), '../x', 'a/b/c', 'abc.json', 'with space', 'tab\there', 'ünï', '..', 'abc\n'])(
    'refuses %j',
    (barcode) => {
      expect(() => validateBarcode(barcode)).toThrow(InvalidBarcodeError);
      expect(isValidBarcode(barcode)).toBe(false);
    },
  );

  test('the error quotes the value and states the rule', () => {
    expect(() => validateBarcode('../x')).toThrow(
      'Invalid barcode "../x": a barcode must be 3 to 50 characters, each a letter, digit, "_" or "-".',
    );
  });

  test('a huge or odd value is cut short and JSON-quoted in the message', () => {
    const error = (() => {
      try {
        validateBarcode(`${'y'.repeat(5000)}`);
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('expected a throw');
    })();
    expect(error.message.length).toBeLessThan(250);
    expect(error.message).toContain('(5000 characters)');
    expect(() => validateBarcode('a\u0000b')).toThrow('"a\\u0000b"');
  });
});

describe('parseBarcodeList', () => {
  test('one per line: trims, skips blanks and comments, keeps the first of duplicates', () => {
    const list = parseBarcodeList('# my batch\n\n  AAA111  \nBBB222\r\nAAA111\n   # indented comment\nCCC333\n', 'batch.txt');
    expect(list.barcodes).toEqual(['AAA111', 'BBB222', 'CCC333']);
    expect(list.problems).toEqual([]);
    expect(list.duplicates).toEqual([{ line: 5, text: 'AAA111', reason: 'AAA111 repeats line 3 (counted once)' }]);
    expect(formatBarcodeListProblems(list, list.duplicates)).toEqual(['batch.txt:5: AAA111 repeats line 3 (counted once)']);
    expect(list.source).toBe('batch.txt');
  });

  test('takes the first column of TSV lines and skips a Barcode header', () => {
    const tsv = 'Barcode\tScanned Date\tStatus\nAAA111\t2020-01-01\tconverted\nBBB222\t\t\n';
    expect(parseBarcodeList(tsv, 'all.tsv').barcodes).toEqual(['AAA111', 'BBB222']);
  });

  test('a "barcode" line later in the list is an ordinary entry', () => {
    expect(parseBarcodeList('AAA111\nbarcode\n', 'x').barcodes).toEqual(['AAA111', 'barcode']);
  });

  test('bad lines are reported with line numbers, the rest is kept', () => {
    const list = parseBarcodeList('\uFEFFAAA111\n../etc/passwd\nab\nBBB 222\nCCC333\n', 'list.txt');
    expect(list.barcodes).toEqual(['AAA111', 'CCC333']);
    expect(list.problems.map((problem) => [problem.line, problem.text])).toEqual([
      [2, '../etc/passwd'],
      [3, 'ab'],
      [4, 'BBB 222'],
    ]);
    expect(list.problems[0].reason).toContain('"../etc/passwd" is not a barcode');
    expect(formatBarcodeListProblems(list)[1]).toBe(
      'list.txt:3: "ab" is not a barcode (must be 3 to 50 characters, each a letter, digit, "_" or "-")',
    );
  });

  test('empty input gives an empty list', () => {
    expect(parseBarcodeList('', 'empty')).toMatchObject({ barcodes: [], problems: [], duplicates: [] });
  });
});

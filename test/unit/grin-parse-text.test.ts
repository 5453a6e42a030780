import {
  ALL_BOOKS_COLUMNS_GT,
  LineSplitter,
  barcodeFromFilename,
  looksLikeHtml,
  parseAllBooksLine,
  parseBarcodeLine,
  parseConvertedLine,
  parseConvertedModeAllLine,
  parseFailedModeAllLine,
  parseTsvWithHeader,
} from '../../src/grin/parse-text';

describe('LineSplitter', () => {
  it('joins lines split across chunks and strips CR', () => {
    const s = new LineSplitter();
    expect(s.push('3204409999')).toEqual([]);
    expect(s.push('0001\r\n32044099990002\n\n3204')).toEqual(['32044099990001', '32044099990002', '']);
    expect(s.push('4099990003')).toEqual([]);
    expect(s.end()).toEqual(['32044099990003']);
    expect(s.end()).toEqual([]);
  });
});

describe('_converted text lines (§2.4)', () => {
  it('keeps the file name as listed and strips the suffix for the barcode', () => {
    expect(parseConvertedLine('32044099990001.tar.gz.gpg', 'Harvard')).toEqual({
      barcode: '32044099990001',
      filename: '32044099990001.tar.gz.gpg',
    });
  });
  it('accepts a <DIR>_ prefix and downloads the name as listed', () => {
    expect(parseConvertedLine('PRNC_32101081977728.tar.gz.gpg', 'PRNC')).toEqual({
      barcode: '32101081977728',
      filename: 'PRNC_32101081977728.tar.gz.gpg',
    });
  });
  it('only strips the prefix of this directory (case-sensitive)', () => {
    expect(barcodeFromFilename('prnc_TZ1XH8.tar.gz.gpg', 'PRNC')).toBe('prnc_TZ1XH8');
    expect(barcodeFromFilename('NLI_TZ1XH8.tar.gz.gpg', 'NLI')).toBe('TZ1XH8');
  });
  it('takes the first tab-separated field and skips blank lines', () => {
    expect(parseConvertedLine('32044099990001.tar.gz.gpg\t2019/11/02 06:41', 'X')?.filename).toBe('32044099990001.tar.gz.gpg');
    expect(parseConvertedLine('   ', 'X')).toBeNull();
  });
  it('mode=all: barcode is the file name up to the first dot', () => {
    const line = 'PRNC_32101081977728.tar.gz.gpg\t2008/04/17 10:22\t2019/11/02 06:41\t\thttps://books.google.com/books?id=AbCdEfGhIjkC';
    expect(parseConvertedModeAllLine(line, 'PRNC')).toEqual({ barcode: '32101081977728', filename: 'PRNC_32101081977728.tar.gz.gpg' });
  });
});

describe('one-barcode-per-line listings (§2.3, 2.5–2.7)', () => {
  it('accepts bare barcodes and file names (GT _in_process)', () => {
    expect(parseBarcodeLine('TZ1XH8', 'HVD')).toBe('TZ1XH8');
    expect(parseBarcodeLine('32044099990001.tar.gz.gpg', 'HVD')).toBe('32044099990001');
    expect(parseBarcodeLine(' 32044099990001 \t2008/04/17 10:22', 'HVD')).toBe('32044099990001');
    expect(parseBarcodeLine('', 'HVD')).toBeNull();
  });
});

describe('_all_books?format=text&mode=all (§2.3b)', () => {
  const pul =
    '32044099990001\t2008/04/17 10:22\t2008/04/17 22:30\t2008/04/18 02:10\t2019/11/02 06:41\t2015/03/09 11:00\thttps://books.google.com/books?id=AbCdEfGhIjkC';
  it('reads the PUL 7-column layout', () => {
    expect(parseAllBooksLine(pul)).toEqual({
      barcode: '32044099990001',
      scannedDate: '2008/04/17 10:22',
      processedDate: '2008/04/17 22:30',
      analyzedDate: '2008/04/18 02:10',
      convertedDate: '2019/11/02 06:41',
      ocrdDate: '2015/03/09 11:00',
      googleBooksLink: 'https://books.google.com/books?id=AbCdEfGhIjkC',
    });
  });
  it('reads the GT 9-column layout, chosen by column count', () => {
    const gt = [
      '32044099990002',
      '2008/04/17 10:22', // scanned
      '2019/11/02 06:41', // converted
      '2019/11/05 13:07', // downloaded
      '2008/04/17 22:30', // processed
      '2008/04/18 02:10', // analyzed
      'mystery',
      '2015/03/09 11:00', // ocr
      'https://books.google.com/books?id=x',
    ].join('\t');
    expect(parseAllBooksLine(gt)).toEqual({
      barcode: '32044099990002',
      scannedDate: '2008/04/17 10:22',
      convertedDate: '2019/11/02 06:41',
      downloadedDate: '2019/11/05 13:07',
      processedDate: '2008/04/17 22:30',
      analyzedDate: '2008/04/18 02:10',
      ocrdDate: '2015/03/09 11:00',
      googleBooksLink: 'https://books.google.com/books?id=x',
      extra: { column6: 'mystery' },
    });
  });
  it('uses a configured map instead of the defaults', () => {
    const only9 = parseAllBooksLine(pul, [ALL_BOOKS_COLUMNS_GT]);
    expect(only9?.barcode).toBe('32044099990001');
    expect(only9?.scannedDate).toBeUndefined();
    expect(only9?.extra?.column1).toBe('2008/04/17 10:22');
    const custom = parseAllBooksLine('B1\tT\tNEW', [['barcode', 'title', 'state']]);
    expect(custom).toEqual({ barcode: 'B1', title: 'T', state: 'NEW' });
  });
  it('keeps the barcode of a row of unknown width, and skips blank lines', () => {
    expect(parseAllBooksLine('B1\tx\ty')).toEqual({ barcode: 'B1', extra: { column1: 'x', column2: 'y' } });
    expect(parseAllBooksLine('')).toBeNull();
  });
});

describe('_failed?format=text&mode=all (§2.7)', () => {
  it('reads PUL-client order', () => {
    const line =
      'B1\t2008/01/01 00:00\t2008/01/02 00:00\t2008/01/03 00:00\t2020/05/06 07:08\tError: Timeout\t\tProcess exceeded 3600s\thttp://x';
    expect(parseFailedModeAllLine(line)).toEqual({
      barcode: 'B1',
      failedDate: '2020/05/06 07:08',
      info: 'Error: Timeout',
      detailedInfo: 'Process exceeded 3600s',
    });
  });
});

describe('TSV with header (§2.9)', () => {
  it('keys by header name, pads short rows, drops extra fields, skips blank lines', () => {
    const t = parseTsvWithHeader('Barcode\tState\tViewability\n\nB1\tCONVERTED\tVIEW_FULL\textra\r\nB2\tNEW\n');
    expect(t.header).toEqual(['Barcode', 'State', 'Viewability']);
    expect(t.rows).toEqual([
      { Barcode: 'B1', State: 'CONVERTED', Viewability: 'VIEW_FULL' },
      { Barcode: 'B2', State: 'NEW', Viewability: '' },
    ]);
  });
});

describe('looksLikeHtml', () => {
  it('spots HTML pages in place of text listings', () => {
    expect(looksLikeHtml('<!DOCTYPE html>')).toBe(true);
    expect(looksLikeHtml('  <html><body>Your request is unavailable')).toBe(true);
    expect(looksLikeHtml('32044099990001.tar.gz.gpg')).toBe(false);
  });
});

import { mapConversionStatus, parseProcessResponse } from '../../src/grin/process-status';

describe('_process status mapping (§2.8)', () => {
  it.each([
    ['Success', { kind: 'requested' }],
    ['  success ', { kind: 'requested' }],
    ['Already being converted', { kind: 'already_converting' }],
    ['ALREADY BEING CONVERTED', { kind: 'already_converting' }],
    ['Already in process', { kind: 'already_converting' }],
    ['already   in  process', { kind: 'already_converting' }],
    ['Already available for download', { kind: 'already_available' }],
    ['Not allowed to be downloaded', { kind: 'not_allowed', text: 'Not allowed to be downloaded' }],
    ['Book not allowed to be downloaded by Google', { kind: 'not_allowed', text: 'Book not allowed to be downloaded by Google' }],
    ['Other error', { kind: 'other_error', text: 'Other error' }],
    [' Something new from Google ', { kind: 'unknown', text: 'Something new from Google' }],
    ['', { kind: 'unknown', text: '' }],
  ])('%j', (status, outcome) => {
    expect(mapConversionStatus(status)).toEqual(outcome);
  });

  it('never maps "Already being converted" to an unavailable-like outcome (fixes §11.1)', () => {
    expect(mapConversionStatus('Already being converted').kind).toBe('already_converting');
  });
});

describe('parseProcessResponse', () => {
  it('parses by header name, in any column order', () => {
    const r = parseProcessResponse('Status\tBarcode\r\nSuccess\tB1\nAlready being converted\tB2\n\n');
    expect(r.get('B1')).toEqual({ kind: 'requested' });
    expect(r.get('B2')).toEqual({ kind: 'already_converting' });
    expect(r.size).toBe(2);
  });
  it('reads header-less pairs by position', () => {
    const r = parseProcessResponse('B1\tOther error\n');
    expect(r.get('B1')).toEqual({ kind: 'other_error', text: 'Other error' });
  });
  it('refuses HTML and lines without a tab', () => {
    expect(() => parseProcessResponse('<html><body>oops</body></html>')).toThrow(/HTML/);
    expect(() => parseProcessResponse('B1 Success')).toThrow(/without a tab/);
  });
  it('refuses a header without a Status column', () => {
    expect(() => parseProcessResponse('Barcode\tResult\nB1\tSuccess')).toThrow(/Status/);
  });
  it('gives an empty map for an empty body', () => {
    expect(parseProcessResponse('\n').size).toBe(0);
  });
});

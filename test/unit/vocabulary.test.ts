/**
 * The stage vocabulary (src/common/stages.ts) and the identifier rules (src/common/identifiers.ts):
 * the tables agree with each other, and every place that takes a barcode holds it to the one rule.
 */
import { bookPaths } from '../../src/activities/deps';
import { isValidBarcode as boardRule } from '../../src/buckets/barcode';
import { StaticTokenSource } from '../../src/grin/auth';
import { GrinClient } from '../../src/grin/client';
import { BOOK_FILE, bookFileNames, isValidBarcode, TOKEN_FILE, tokenFileName } from '../../src/common/identifiers';
import {
  ACTIVITIES,
  BUCKETS,
  isOnHostBucket,
  nextStageBucket,
  STAGE_BUCKETS,
  stageEndingIn,
  type ActivityName,
} from '../../src/common/stages';

test('each stage bucket but the first ends a stage that starts in the bucket before it', () => {
  expect(stageEndingIn('00_available')).toBeUndefined();
  expect(stageEndingIn('failed')).toBeUndefined();
  STAGE_BUCKETS.slice(1).forEach((bucket, i) => expect(stageEndingIn(bucket)?.from).toBe(STAGE_BUCKETS[i]));
  expect(STAGE_BUCKETS.map((b) => stageEndingIn(b)?.stage)).toEqual([
    undefined,
    'request',
    'convert',
    'download',
    'decrypt',
    'extract',
    'process',
    'store',
  ]);
});

test('next buckets walk the stages in order and stop at 07_stored and the side buckets', () => {
  const walked: string[] = ['00_available'];
  for (let b = nextStageBucket('00_available'); b; b = nextStageBucket(b)) walked.push(b);
  expect(walked).toEqual([...STAGE_BUCKETS]);
  expect(nextStageBucket('failed')).toBeUndefined();
  expect(nextStageBucket('cancelled')).toBeUndefined();
});

test('a book is on its host from its download until it is stored', () => {
  expect(STAGE_BUCKETS.filter(isOnHostBucket)).toEqual(['03_downloaded', '04_decrypted', '05_extracted', '06_processed']);
});

test('activities enter buckets that exist, and every stage has an activity that ends it', () => {
  const entered = new Set<string>();
  for (const facts of Object.values(ACTIVITIES) as { enters?: readonly string[] }[]) for (const b of facts.enters ?? []) entered.add(b);
  for (const b of entered) expect(BUCKETS).toContain(b);
  for (const b of STAGE_BUCKETS.slice(2)) expect(entered.has(b)).toBe(true); // 01_requested: requestConversion
  const downloads: ActivityName[] = ['fetchArchive', 'downloadArchive'];
  for (const name of downloads) expect(ACTIVITIES[name]).toMatchObject({ stage: 'download', bytes: 'downloaded' });
});

test('every local file name bookPaths gives, and the temp files beside them, reads back as its barcode', () => {
  for (const barcode of ['32044099990001', 'TZ1XH8', 'a_b-c']) {
    for (const name of Object.values(bookFileNames(barcode))) {
      expect(BOOK_FILE.exec(name)?.[1]).toBe(barcode);
      expect(BOOK_FILE.exec(`.${name}.123.0123456789ab.tmp`)?.[1]).toBe(barcode);
    }
    expect(Object.values(bookPaths('/p', barcode))).toEqual(Object.values(bookFileNames(barcode)).map((n) => `/p/${n}`));
    expect(TOKEN_FILE.exec(tokenFileName(barcode))?.[1]).toBe(barcode);
  }
  expect(BOOK_FILE.test('notes.txt')).toBe(false);
});

test('one barcode rule: 3 to 50 letters, digits, "_" or "-", the same for the board and the GRIN client', async () => {
  const cases: [string, boolean][] = [
    ['32044099990001', true],
    ['TZ1XH8', true],
    ['abc', true],
    ['x'.repeat(50), true],
    ['ab', false],
    ['x'.repeat(51), false],
    ['a.b.c', false],
    ['../etc', false],
    ['bad,one', false],
  ];
  const client = new GrinClient({ baseUrl: 'http://127.0.0.1:9', directory: 'TEST', tokens: new StaticTokenSource('t') });
  for (const [barcode, valid] of cases) {
    expect([barcode, isValidBarcode(barcode)]).toEqual([barcode, valid]);
    expect([barcode, boardRule(barcode)]).toEqual([barcode, valid]);
    expect([barcode, TOKEN_FILE.test(`${barcode}.json`)]).toEqual([barcode, valid]);
    if (!valid) await expect(client.requestConversion([barcode])).rejects.toThrow(/is not valid: a GRIN barcode is 3 to 50 characters/);
  }
});

import { BUCKETS, isBucket, STAGE_BUCKETS } from '../../src/buckets/token';

test('buckets are the stages in order followed by failed and cancelled', () => {
  expect(STAGE_BUCKETS[0]).toBe('00_available');
  expect(STAGE_BUCKETS[STAGE_BUCKETS.length - 1]).toBe('07_stored');
  expect(BUCKETS.slice(-2)).toEqual(['failed', 'cancelled']);
  expect(isBucket('03_downloaded')).toBe(true);
  expect(isBucket('../etc')).toBe(false);
});

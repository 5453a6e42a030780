/** How the batch's reconcile reads a book's workflow: settled (and how) or still at work. */
import { TypedSearchAttributes } from '@temporalio/common';
import { outcomeOf } from '../../src/activities/batch';
import { GrinStage } from '../../src/workflows/search-attributes';

function book(status: string, stage: string) {
  return {
    status: { code: 0, name: status },
    typedSearchAttributes: new TypedSearchAttributes([{ key: GrinStage, value: stage }]),
  } as unknown as Parameters<typeof outcomeOf>[0];
}

test.each([
  ['RUNNING', '03_downloaded', undefined],
  ['RUNNING', '00_available', undefined],
  ['RUNNING', 'failed', 'failed'],
  ['RUNNING', '07_stored', 'stored'],
  ['RUNNING', 'cancelled', 'cancelled'],
  ['COMPLETED', '07_stored', 'stored'],
  ['COMPLETED', 'cancelled', 'cancelled'],
  ['TERMINATED', '04_decrypted', 'failed'],
  ['FAILED', '02_converted', 'failed'],
  ['TIMED_OUT', '01_requested', 'failed'],
])('%s in %s: %s', (status, stage, outcome) => {
  expect(outcomeOf(book(status, stage))).toBe(outcome);
});

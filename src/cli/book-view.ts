/**
 * How one book reads in the CLI's text output: the `workflow` line of `status` and the note after a
 * barcode in `board --bucket`. Kept apart from the commands so the wording can be tested alone.
 */
import type { BookToken } from '../buckets/token';
import type { BookStatus } from '../workflows/contracts';

/**
 * `parked: <reason>` for a parked book, `running: downloading` for a busy one. The workflow's own
 * activity text already starts with the state when parked or cancelled ("parked: <reason>"), so the
 * state is not said twice.
 */
export function workflowLine(live: Pick<BookStatus, 'state' | 'activity' | 'reRequests'>): string {
  const prefix = `${live.state}: `;
  const activity = live.activity.startsWith(prefix) ? live.activity.slice(prefix.length) : live.activity;
  return `${live.state}: ${activity}${live.reRequests ? ` (re-requested ${live.reRequests}x)` : ''}`;
}

/**
 * Why the book is in its bucket, for a bucket listing. In `failed` that is its last error; anywhere
 * else it is `status` (a cancel's reason, "retrying"): lastError outlives a retry or a cancel as
 * history, and shown there it would read as the reason the book is cancelled.
 */
export function listingNote(token: Pick<BookToken, 'bucket' | 'status' | 'lastError'>): string {
  if (token.bucket === 'failed') return token.lastError?.message ?? token.status ?? '';
  return token.status ?? '';
}

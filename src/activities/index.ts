/**
 * All activities, grouped by the task queue they run on. Workflows import these types only.
 *  - board: bookkeeping on the workflow task queue (with the batch's messages to and about its books)
 *  - grin: GRIN calls on the shared, server-side rate-limited GRIN queue
 *  - fileHost: on the shared file queue, what puts a book on a host: claimFileHost, and fetchArchive
 *    (claim and download in one)
 *  - files: the file stages on this host's own queue
 */
import type { ActivityDeps } from './deps';
import { createBoardActivities } from './board-ops';
import { createBatchActivities } from './batch';
import { createReportActivities } from './report';
import { createRequestConversionActivity } from './request-conversion';
import { createWaitForConversionActivity } from './wait-for-conversion';
import { createCheckArchiveActivity } from './check-archive';
import { createDownloadActivity, type DownloadOptions } from './download';
import { createDecryptActivity } from './decrypt';
import { createExtractActivity } from './extract';
import { createProcessActivity } from './process';
import { createUploadActivity } from './upload';
import { createCleanupActivity } from './cleanup';
import { createHostActivity } from './host';
import { createLocalFilesActivities } from './local-files';
import { createConversionWatchActivities } from './tell-converted-books';
import { createFetchActivity, createJoinedFileStages } from './joined-stages';
import { createNotifyActivities } from './notify';

export type { ActivityDeps } from './deps';
import type { ActivityName } from '../common/stages';
import type { CoalescerOptions } from './batch-notices';

/** `notices`: how settle notices to a batch are grouped (tests set a delay of 0 to send each at once). */
export function createBoardActivityGroup(deps: ActivityDeps, opts: { notices?: CoalescerOptions } = {}) {
  return {
    ...createBoardActivities(deps),
    ...createBatchActivities({ notices: opts.notices }),
    ...createReportActivities(deps),
    ...createNotifyActivities(deps),
  };
}

// GRIN and file stages show book-wide faults (what a book waits for) on its token and in the log:
// the failure interceptor does it for those the stage table marks `waits` (failure-interceptor.ts).
export function createGrinActivities(deps: ActivityDeps) {
  return {
    ...createRequestConversionActivity(deps),
    ...createWaitForConversionActivity(deps),
    ...createCheckArchiveActivity(deps),
    // The conversion watcher's look is for a whole directory, not one book.
    ...createConversionWatchActivities(deps),
  };
}

export function createFileHostActivities(deps: ActivityDeps, opts: { download?: DownloadOptions } = {}) {
  return {
    ...createHostActivity(deps),
    ...createFetchActivity(deps, opts.download),
  };
}

export function createFileActivities(deps: ActivityDeps, opts: { download?: DownloadOptions } = {}) {
  return {
    ...createDownloadActivity(deps, opts.download),
    ...createDecryptActivity(deps),
    ...createExtractActivity(deps),
    ...createProcessActivity(deps),
    ...createUploadActivity(deps),
    ...createCleanupActivity(deps),
    ...createLocalFilesActivities(deps),
    ...createJoinedFileStages(deps),
  };
}

export type BoardActivities = ReturnType<typeof createBoardActivityGroup>;
export type GrinActivities = ReturnType<typeof createGrinActivities>;
export type FileHostActivities = ReturnType<typeof createFileHostActivities>;
export type FileActivities = ReturnType<typeof createFileActivities>;

/** The stage vocabulary (common/stages.ts) names exactly these activities: checked when this compiles. */
type RegisteredActivityName = keyof (BoardActivities & GrinActivities & FileHostActivities & FileActivities);
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const ACTIVITY_NAMES_MATCH: Same<RegisteredActivityName, ActivityName> = true;

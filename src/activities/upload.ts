/**
 * Stage 07, first half: upload the decrypted archive and the derivatives, verify them, record the
 * keys in the token (`stored`, the token stays in 06_processed) and store a copy of the token beside
 * them. Nothing local is removed here (that is the clean-up's job, after this reports).
 * An archive already stored with the same GRIN ETag (and size) is not uploaded again (unless forced).
 * Multipart progress is heartbeated so a retry continues the same upload; an upload that is being
 * given up (an error retrying cannot fix, an operator's cancel, the last attempt) is aborted so the
 * server does not keep its parts.
 *
 * Run again after a crash at any point, it: continues an interrupted multipart upload from its
 * heartbeated checkpoint; skips the archive once it is stored with this ETag and size (so it is never
 * sent twice); puts the small derivatives and the token copy again (same content). If the clean-up
 * already removed the local files (a crash before it moved the token), it checks what the token
 * records against storage and reports the book as uploaded.
 */
import { Context } from '@temporalio/activity';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { storageKey } from '../storage/layout';
import type { BookStorage, UploadCheckpoint } from '../storage/types';
import { bookPaths, type ActivityDeps } from './deps';
import { classified, isPermanent } from './failures';
import { killPoint } from './kill-points';
import { exists, LocalCopyMissingError, requireLocalFile } from './stage-state';
import type { BookToken } from '../buckets/token';
import { BookNotOnBoardError } from '../buckets/board';

export interface UploadResult {
  keys: Record<string, string>;
  /** True when the archive was already stored with this ETag and was not sent again. */
  archiveSkipped: boolean;
  /** Bytes sent to storage by this run (metrics); absent from results of older workers. */
  bytes?: number;
}

/** What the upload heartbeats: the multipart state, and once stored, the ETag of the stored archive. */
interface UploadHeartbeat {
  checkpoint?: UploadCheckpoint;
  /** Set after the archive is stored and verified, so a retry (even a forced one) does not send it again. */
  archiveStored?: string;
}

export function createUploadActivity(deps: ActivityDeps) {
  return {
    async uploadBook(input: { barcode: string; force?: boolean }): Promise<UploadResult> {
      return classified(async () => {
        const { barcode } = input;
        const { storage, board } = deps;
        // Captured, not looked up in callbacks: those may run in another activity's async context
        // (pooled connections carry the context of the activity that opened them).
        const activity = Context.current();
        const layout = deps.config.storage.layout;
        const paths = bookPaths(deps.config.processingDir, barcode);
        const token = await board.get(barcode);
        if (!token) throw new BookNotOnBoardError(barcode);
        const keys = {
          archive: storageKey(layout, 'archive', barcode),
          ocr: storageKey(layout, 'ocr', barcode),
          marc: storageKey(layout, 'marc', barcode),
          token: storageKey(layout, 'token', barcode),
        };
        if (token.stored?.archive && !(await exists(paths.decrypted))) {
          // The clean-up ran (it removes the local files before it moves the token to 07_stored).
          await confirmStored(storage, barcode, token, keys, paths.decrypted);
          return { keys: { ...keys }, archiveSkipped: true, bytes: 0 };
        }
        await requireLocalFile(barcode, paths.decrypted, 'decrypted archive');
        const acquiredAt = token.stages['03_downloaded'] ?? new Date().toISOString();
        const metadata = {
          barcode,
          grin_etag: token.grinEtag ?? '',
          original_filename: token.grinFilename ?? `${barcode}.tar.gz.gpg`,
          acquired_at: acquiredAt,
        };
        const previous = activity.info.heartbeatDetails as UploadHeartbeat | undefined;
        const resumeFrom = previous?.checkpoint?.key === keys.archive ? previous.checkpoint : undefined;

        const localSize = (await stat(paths.decrypted)).size;
        let sent = 0;
        const existing = await storage.head(keys.archive);
        const sameArchive =
          !!existing && !!token.grinEtag && existing.metadata.grin_etag === token.grinEtag && existing.size === localSize;
        const storedByEarlierAttempt = !!token.grinEtag && previous?.archiveStored === token.grinEtag;
        const archiveSkipped = sameArchive && (!input.force || storedByEarlierAttempt);
        if (archiveSkipped) {
          // A checkpoint from an earlier attempt belongs to an upload nobody will finish now.
          if (resumeFrom) await abortQuietly(storage, resumeFrom);
        } else {
          let latest = resumeFrom;
          try {
            // A resumed multipart upload sends only the parts the checkpoint does not hold.
            sent += localSize - (resumeFrom?.parts.reduce((n, part) => n + part.size, 0) ?? 0);
            await storage.putFile(paths.decrypted, keys.archive, {
              metadata,
              contentType: 'application/gzip',
              resumeFrom,
              onCheckpoint: (checkpoint) => {
                latest = checkpoint;
                activity.heartbeat({ checkpoint } satisfies UploadHeartbeat);
                killPoint('upload:after-part', barcode);
              },
              signal: activity.cancellationSignal,
            });
          } catch (err) {
            if (latest && isGivingUp(activity, err)) await abortQuietly(storage, latest);
            throw err;
          }
        }
        killPoint('upload:after-archive', barcode);
        activity.heartbeat({ archiveStored: token.grinEtag } satisfies UploadHeartbeat);

        sent += (await storage.putFile(join(paths.derivatives, `${barcode}_ocr.jsonl.gz`), keys.ocr, {
          metadata: { barcode, page_count: String(token.pageCount ?? 0), acquired_at: acquiredAt },
          contentType: 'application/gzip',
        })).size;
        sent += (await storage.putFile(join(paths.derivatives, `${barcode}_marc.json`), keys.marc, {
          metadata: { barcode },
          contentType: 'application/json',
        })).size;
        killPoint('upload:after-derivatives', barcode);
        const stored = { ...keys };
        const uploaded = await board.update(barcode, {
          status: archiveSkipped ? 'uploaded; archive was already stored with this ETag' : 'uploaded and verified',
          stored,
        });
        killPoint('upload:after-token-update', barcode);
        await storage.putBytes(JSON.stringify(uploaded, null, 2), keys.token, { metadata: { barcode }, contentType: 'application/json' });
        killPoint('upload:after-token-object', barcode);
        return { keys: stored, archiveSkipped, bytes: sent };
      });
    },
  };
}

/**
 * The book's local files are gone but its token records an upload: true only if storage holds every
 * object, the archive with this ETag (and the decrypted size the token recorded). Otherwise the book
 * needs downloading again.
 */
async function confirmStored(storage: BookStorage, barcode: string, token: BookToken, keys: Record<string, string>, localPath: string): Promise<void> {
  const archive = await storage.head(keys.archive);
  const archiveOk =
    !!archive &&
    archive.metadata.grin_etag === (token.grinEtag ?? '') &&
    (token.decryptedBytes === undefined || archive.size === token.decryptedBytes);
  const others = await Promise.all([keys.ocr, keys.marc, keys.token].map((key) => storage.head(key)));
  if (!archiveOk || others.some((o) => !o)) throw new LocalCopyMissingError(barcode, localPath, 'decrypted archive');
}

/**
 * True when no later attempt will continue this upload: the error is one retrying cannot fix, an
 * operator cancelled the book, or this is the last attempt the retry policy allows. A crash, a
 * heartbeat timeout or a worker shutdown keeps the upload for the next attempt.
 */
function isGivingUp(activity: Context, err: unknown): boolean {
  if (isPermanent(err)) return true;
  if (activity.cancellationDetails?.cancelRequested) return true;
  const { attempt, retryPolicy } = activity.info;
  const max = retryPolicy?.maximumAttempts;
  return !!max && attempt >= max;
}

/** Best effort: if the abort fails, the bucket's lifecycle rule for incomplete uploads is the backstop. */
async function abortQuietly(storage: BookStorage, checkpoint: UploadCheckpoint): Promise<void> {
  await storage.abortUpload(checkpoint).catch(() => undefined);
}

/**
 * Stage 03: stream the encrypted archive from GRIN to `<processing>/<barcode>.tar.gz.gpg.part`,
 * heartbeating the byte offset and ETag, rename it to `.tar.gz.gpg` when complete, then move the token
 * to 03_downloaded. Liveness comes from heartbeats, not a total-time cap, so a large archive on a slow
 * link is never cut off. The disk is checked before and during the transfer: over the threshold the
 * attempt fails (transient DiskFullError) keeping its partial file, and frees its file slot.
 *
 * Run again after a crash at any point, it:
 *  - mid-transfer: continues the partial file with a Range request (If-Range: the ETag from the
 *    heartbeat, else the one the token recorded), or starts over if GRIN's package changed;
 *  - after the rename, before the token moved: takes the finished file back as partial, and the Range
 *    request confirms it (416: nothing left to send) without fetching it again;
 *  - after the token moved: finds the token in 03_downloaded with the file of the recorded size and
 *    returns at once.
 * The book is held on this host (host-books.ts) once its archive is complete, not before.
 * `fresh: true` (a download again after an integrity failure) first discards every local file of
 * the book, so nothing of the doubted copy is kept or trusted.
 */
import { Context } from '@temporalio/activity';
import { mkdir, rename, rm } from 'node:fs/promises';
import { bookPaths, type ActivityDeps } from './deps';
import { DiskFullError, diskUsage } from './disk-space';
import { fileSize } from './stage-state';
import { PRIVATE_DIR_MODE } from '../common/file-modes';

const DISK_CHECK_BYTES = 64 * 1024 * 1024;
const DISK_RETRY_SECONDS = 30;

export interface DownloadResultInfo {
  path: string;
  etag: string;
  bytes: number;
  resumed: boolean;
}

interface DownloadHeartbeat {
  bytes: number;
  etag?: string;
}

export interface DownloadOptions {
  /** Seconds before a download refused for lack of disk space is tried again (default 30; tests shorten it). */
  diskRetrySeconds?: number;
  diskUsage?: (path: string) => Promise<number>;
  /** Bytes between disk checks during a transfer (default 64 MiB; tests shorten it). */
  diskCheckBytes?: number;
}

export interface DownloadInput {
  barcode: string;
  filename: string;
  expectEtag?: string;
  /** Discard every local file of the book first (the copy on disk is in doubt). */
  fresh?: boolean;
}

export function createDownloadActivity(deps: ActivityDeps, opts: DownloadOptions = {}) {
  return {
    async downloadArchive(input: DownloadInput): Promise<DownloadResultInfo> {
      const { barcode } = input;
      const { processingDir, limits } = deps.config;
      await mkdir(processingDir, { recursive: true, mode: PRIVATE_DIR_MODE });
      const paths = bookPaths(processingDir, barcode);
      // Captured here because progress callbacks run in the HTTP connection's async context, which
      // for a pooled keep-alive socket is the activity that opened it: the global `heartbeat()`
      // would report this download's progress for that other (maybe finished) activity.
      const activity = Context.current();
      const heartbeat = (details: DownloadHeartbeat) => activity.heartbeat(details);
      const previous = activity.info.heartbeatDetails as DownloadHeartbeat | undefined;

      if (input.fresh && !previous) {
        // The record first: it is what tells later stages that the unpacked files are complete.
        await rm(paths.unpacked, { force: true });
        await Promise.all(Object.values(paths).map((p) => rm(p, { recursive: true, force: true })));
      }
      const token = await deps.board.get(barcode);
      const onDisk = await fileSize(paths.encrypted);
      if (
        token?.bucket === '03_downloaded' &&
        token.grinEtag &&
        onDisk !== undefined &&
        onDisk === token.encryptedBytes &&
        (!input.expectEtag || input.expectEtag === token.grinEtag)
      ) {
        holdHere(deps, barcode, onDisk);
        return { path: paths.encrypted, etag: token.grinEtag, bytes: onDisk, resumed: false };
      }
      // Whatever was made from an earlier copy of the archive is out of date once this one arrives
      // (the record first: it is what tells later stages that the unpacked files are complete).
      await rm(paths.unpacked, { force: true });
      await Promise.all([paths.decrypted, paths.extracted, paths.derivatives].map((p) => rm(p, { recursive: true, force: true })));
      // A finished file whose token did not move: the Range request below confirms it.
      if (onDisk !== undefined && (await fileSize(paths.partial)) === undefined) await rename(paths.encrypted, paths.partial);
      // Without heartbeat details (a new workflow run), the token still names the ETag the partial
      // file was started with; If-Range makes GRIN send the whole archive again if that is no longer current.
      const recordedEtag = (await fileSize(paths.partial)) ? token?.grinEtag : undefined;
      let lastBeat: DownloadHeartbeat = { bytes: previous?.bytes ?? 0, etag: previous?.etag ?? input.expectEtag ?? recordedEtag };
      let recordedOnBoard = recordedEtag;

      const usage = opts.diskUsage ?? diskUsage;
      const diskCheckBytes = opts.diskCheckBytes ?? DISK_CHECK_BYTES;
      const diskFull = (used: number) =>
        new DiskFullError(processingDir, used, limits.diskUsageThreshold, opts.diskRetrySeconds ?? DISK_RETRY_SECONDS);

      const used = await usage(processingDir);
      // The token says the book waits for disk space (activities/waiting.ts writes every such wait).
      if (used > limits.diskUsageThreshold) throw diskFull(used);
      if (token?.status?.startsWith('waiting for disk space')) await deps.board.update(barcode, { status: 'downloading' });

      // Heartbeat on a timer too, not only per MiB received: a slow but live link must not look dead.
      const beatTimer = setInterval(() => heartbeat(lastBeat), 10_000);
      // The disk is re-checked every `diskCheckBytes`; when it fills up the transfer stops and keeps its
      // partial file, and the attempt fails so that a later one continues it with a Range request.
      const stopForDisk = new AbortController();
      let fullAt: number | undefined;
      let etagWrite: Promise<unknown> = Promise.resolve();
      let result;
      try {
        let checkedAt = lastBeat.bytes;
        result = await deps.grin.downloadArchive(input.filename, paths.partial, {
          expectEtag: lastBeat.etag,
          signal: AbortSignal.any([activity.cancellationSignal, stopForDisk.signal]),
          onProgress: (p) => {
            lastBeat = { bytes: p.bytes, etag: p.etag };
            heartbeat(lastBeat);
            if (p.etag !== recordedOnBoard) {
              recordedOnBoard = p.etag;
              etagWrite = deps.board.update(barcode, { grinEtag: p.etag }).catch(() => undefined);
            }
            if (p.bytes > 0) deps.crashPoint?.('download:after-partial', barcode);
            if (p.bytes - checkedAt >= diskCheckBytes) {
              checkedAt = p.bytes;
              void usage(processingDir).then(
                (now) => {
                  if (now > limits.diskUsageThreshold) {
                    fullAt = now;
                    stopForDisk.abort();
                  }
                },
                () => undefined,
              );
            }
          },
        });
      } catch (err) {
        if (fullAt !== undefined && !activity.cancellationSignal.aborted) throw diskFull(fullAt);
        throw err;
      } finally {
        clearInterval(beatTimer);
        await etagWrite;
      }
      await rename(paths.partial, paths.encrypted);
      deps.crashPoint?.('download:after-rename', barcode);
      await deps.board.move(barcode, '03_downloaded', {
        status: result.resumed ? 'downloaded (resumed)' : 'downloaded',
        grinEtag: result.etag,
        encryptedBytes: result.size,
      });
      holdHere(deps, barcode, result.size);
      deps.crashPoint?.('download:after-token-move', barcode);
      return { path: paths.encrypted, etag: result.etag, bytes: result.size, resumed: result.resumed };
    },
  };
}

/**
 * The archive is complete on this host: the book is held here from now on (host-books.ts), and its
 * size informs the disk estimate. Not before: a download that fails keeps no place (its slot does).
 */
function holdHere(deps: ActivityDeps, barcode: string, archiveBytes: number): void {
  deps.hostBooks.admit(barcode);
  deps.hostBooks.disk?.noteArchive(archiveBytes);
}

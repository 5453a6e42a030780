/**
 * Stage 03: stream the encrypted archive from GRIN to `<processing>/<barcode>.tar.gz.gpg.part`,
 * heartbeating the byte offset and ETag. A retry after a crash finds the partial file and continues it
 * with a Range request (the GRIN client starts over only if GRIN's ETag changed). Liveness comes from
 * heartbeats, not a total-time cap, so a large archive on a slow link is never cut off.
 */
import { Context } from '@temporalio/activity';
import { mkdir, rename, stat } from 'node:fs/promises';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';
import { diskUsage, waitForDiskSpace } from './disk-space';

const DISK_CHECK_BYTES = 64 * 1024 * 1024;

export interface DownloadResultInfo {
  path: string;
  etag: string;
  bytes: number;
  resumed: boolean;
}

interface DownloadHeartbeat {
  bytes: number;
  etag?: string;
  waitingForDisk?: number;
}

export interface DownloadOptions {
  /** How often the disk is re-checked while waiting for space (tests shorten it). */
  diskPollMs?: number;
  diskUsage?: (path: string) => Promise<number>;
  /** Bytes between disk checks during a transfer (default 64 MiB; tests shorten it). */
  diskCheckBytes?: number;
}

export function createDownloadActivity(deps: ActivityDeps, opts: DownloadOptions = {}) {
  return {
    async downloadArchive(input: { barcode: string; filename: string; expectEtag?: string }): Promise<DownloadResultInfo> {
      return classified(async () => {
        const { processingDir, limits } = deps.config;
        await mkdir(processingDir, { recursive: true });
        const paths = bookPaths(processingDir, input.barcode);
        // Captured here because progress callbacks run in the HTTP connection's async context, which
        // for a pooled keep-alive socket is the activity that opened it: the global `heartbeat()`
        // would report this download's progress for that other (maybe finished) activity.
        const activity = Context.current();
        const heartbeat = (details: DownloadHeartbeat) => activity.heartbeat(details);
        const previous = activity.info.heartbeatDetails as DownloadHeartbeat | undefined;
        // An earlier attempt of this activity died between finishing the file and recording it: let
        // the Range request below confirm the finished file (416: nothing left to send) instead of
        // fetching it again. Only then: a file left by an older run is downloaded afresh.
        if (previous && (await fileSize(paths.partial)) === undefined && (await fileSize(paths.encrypted)) !== undefined) {
          await rename(paths.encrypted, paths.partial);
        }
        // Without heartbeat details (a new workflow run, e.g. an operator's retry of a parked book),
        // the token still names the ETag the partial file was started with; If-Range makes GRIN send
        // the whole archive again if that is no longer current.
        const recordedEtag = (await fileSize(paths.partial)) ? (await deps.board.get(input.barcode))?.grinEtag : undefined;
        let lastBeat: DownloadHeartbeat = { bytes: previous?.bytes ?? 0, etag: previous?.etag ?? input.expectEtag ?? recordedEtag };
        let recordedOnBoard = recordedEtag;

        const usage = opts.diskUsage ?? diskUsage;
        const diskCheckBytes = opts.diskCheckBytes ?? DISK_CHECK_BYTES;
        const waitForSpace = () =>
          waitForDiskSpace({
            path: processingDir,
            threshold: limits.diskUsageThreshold,
            pollMs: opts.diskPollMs,
            usage,
            sleep: (ms) => activity.sleep(ms),
            onWait: async (used) => {
              heartbeat({ ...lastBeat, waitingForDisk: used });
              await deps.board.update(input.barcode, {
                status: `waiting for disk space: processing disk ${(used * 100).toFixed(1)}% full (limit ${(limits.diskUsageThreshold * 100).toFixed(0)}%)`,
              });
            },
          });

        // Heartbeat on a timer too, not only per MiB received: a slow but live link must not look dead.
        const beatTimer = setInterval(() => heartbeat(lastBeat), 10_000);
        try {
          return await transfer();
        } finally {
          clearInterval(beatTimer);
        }

        async function transfer(): Promise<DownloadResultInfo> {
          let result;
          for (;;) {
            if (await waitForSpace()) await deps.board.update(input.barcode, { status: 'downloading' });
            // The disk is re-checked every `diskCheckBytes`; when it fills up the transfer stops, keeps its
            // partial file, waits for space and continues with a Range request.
            const diskFull = new AbortController();
            const signal = AbortSignal.any([activity.cancellationSignal, diskFull.signal]);
            let checkedAt = lastBeat.bytes;
            let etagWrite: Promise<unknown> = Promise.resolve();
            try {
              result = await deps.grin.downloadArchive(input.filename, paths.partial, {
                expectEtag: lastBeat.etag,
                signal,
                onProgress: (p) => {
                  lastBeat = { bytes: p.bytes, etag: p.etag };
                  heartbeat(lastBeat);
                  if (p.etag !== recordedOnBoard) {
                    recordedOnBoard = p.etag;
                    etagWrite = deps.board.update(input.barcode, { grinEtag: p.etag }).catch(() => undefined);
                  }
                  if (p.bytes - checkedAt >= diskCheckBytes) {
                    checkedAt = p.bytes;
                    void usage(processingDir).then(
                      (used) => used > limits.diskUsageThreshold && diskFull.abort(),
                      () => undefined,
                    );
                  }
                },
              });
              break;
            } catch (err) {
              if (!diskFull.signal.aborted || activity.cancellationSignal.aborted) throw err;
            } finally {
              await etagWrite;
            }
          }
          await rename(paths.partial, paths.encrypted);
          await deps.board.move(input.barcode, '03_downloaded', {
            status: result.resumed ? 'downloaded (resumed)' : 'downloaded',
            grinEtag: result.etag,
            encryptedBytes: result.size,
          });
          return { path: paths.encrypted, etag: result.etag, bytes: result.size, resumed: result.resumed };
        }
      });
    },
  };
}

/** Size of a file, or undefined when there is none. */
async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

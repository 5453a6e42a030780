/**
 * Stage 03: stream the encrypted archive from GRIN to `<processing>/<barcode>.tar.gz.gpg.part`,
 * heartbeating the byte offset and ETag. A retry after a crash finds the partial file and continues it
 * with a Range request (the GRIN client starts over only if GRIN's ETag changed). Liveness comes from
 * heartbeats, not a total-time cap, so a large archive on a slow link is never cut off.
 */
import { activityInfo, heartbeat, sleep as activitySleep, cancellationSignal } from '@temporalio/activity';
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
}

export function createDownloadActivity(deps: ActivityDeps, opts: DownloadOptions = {}) {
  return {
    async downloadArchive(input: { barcode: string; filename: string; expectEtag?: string }): Promise<DownloadResultInfo> {
      return classified(async () => {
        const { processingDir, limits } = deps.config;
        await mkdir(processingDir, { recursive: true });
        const paths = bookPaths(processingDir, input.barcode);
        const previous = activityInfo().heartbeatDetails as DownloadHeartbeat | undefined;
        let lastBeat: DownloadHeartbeat = { bytes: previous?.bytes ?? 0, etag: previous?.etag ?? input.expectEtag };

        const usage = opts.diskUsage ?? diskUsage;
        const waitForSpace = () =>
          waitForDiskSpace({
            path: processingDir,
            threshold: limits.diskUsageThreshold,
            pollMs: opts.diskPollMs,
            usage,
            sleep: (ms) => activitySleep(ms),
            onWait: async (used) => {
              heartbeat({ ...lastBeat, waitingForDisk: used });
              await deps.board.update(input.barcode, {
                status: `waiting for disk space: processing disk ${(used * 100).toFixed(1)}% full (limit ${(limits.diskUsageThreshold * 100).toFixed(0)}%)`,
              });
            },
          });

        let result;
        for (;;) {
          if (await waitForSpace()) await deps.board.update(input.barcode, { status: 'downloading' });
          // The disk is re-checked every 64 MiB; when it fills up the transfer stops, keeps its
          // partial file, waits for space and continues with a Range request.
          const diskFull = new AbortController();
          const signal = AbortSignal.any([cancellationSignal(), diskFull.signal]);
          let checkedAt = lastBeat.bytes;
          const resumeEtag = lastBeat.etag ?? ((await partialSize(paths.partial)) > 0 ? input.expectEtag : undefined);
          try {
            result = await deps.grin.downloadArchive(input.filename, paths.partial, {
              expectEtag: resumeEtag,
              signal,
              onProgress: (p) => {
                lastBeat = { bytes: p.bytes, etag: p.etag };
                heartbeat(lastBeat);
                if (p.bytes - checkedAt >= DISK_CHECK_BYTES) {
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
            if (!diskFull.signal.aborted || cancellationSignal().aborted) throw err;
          }
        }
        await rename(paths.partial, paths.encrypted);
        await deps.board.move(input.barcode, '03_downloaded', {
          status: result.resumed ? 'downloaded (resumed)' : 'downloaded',
          grinEtag: result.etag,
          encryptedBytes: result.size,
        });
        return { path: paths.encrypted, etag: result.etag, bytes: result.size, resumed: result.resumed };
      });
    },
  };
}

async function partialSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

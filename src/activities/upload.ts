/**
 * Stage 07, first half: upload the decrypted archive and the derivatives, then verify them.
 * Idempotent: an archive already stored with the same GRIN ETag is not uploaded again (unless
 * forced). Multipart progress is heartbeated so a retry continues the same upload.
 */
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { join } from 'node:path';
import { storageKey } from '../storage/layout';
import type { UploadCheckpoint } from '../storage/types';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';

export interface UploadResult {
  keys: Record<string, string>;
  /** True when the archive was already stored with this ETag and was not sent again. */
  archiveSkipped: boolean;
}

export function createUploadActivity(deps: ActivityDeps) {
  return {
    async uploadBook(input: { barcode: string; force?: boolean }): Promise<UploadResult> {
      return classified(async () => {
        const { barcode } = input;
        const { storage, board } = deps;
        const layout = deps.config.storage.layout;
        const paths = bookPaths(deps.config.processingDir, barcode);
        const token = await board.get(barcode);
        if (!token) throw new Error(`no token for ${barcode} on the board at ${deps.config.pipelineDir}`);
        const keys = {
          archive: storageKey(layout, 'archive', barcode),
          ocr: storageKey(layout, 'ocr', barcode),
          marc: storageKey(layout, 'marc', barcode),
          token: storageKey(layout, 'token', barcode),
        };
        const acquiredAt = token.stages['03_downloaded'] ?? new Date().toISOString();
        const metadata = {
          barcode,
          grin_etag: token.grinEtag ?? '',
          original_filename: token.grinFilename ?? `${barcode}.tar.gz.gpg`,
          acquired_at: acquiredAt,
        };

        const existing = await storage.head(keys.archive);
        const archiveSkipped = !input.force && !!existing && !!token.grinEtag && existing.metadata.grin_etag === token.grinEtag;
        if (!archiveSkipped) {
          const resumeFrom = (activityInfo().heartbeatDetails as { checkpoint?: UploadCheckpoint } | undefined)?.checkpoint;
          await storage.putFile(paths.decrypted, keys.archive, {
            metadata,
            contentType: 'application/gzip',
            resumeFrom: resumeFrom?.key === keys.archive ? resumeFrom : undefined,
            onCheckpoint: (checkpoint) => heartbeat({ checkpoint }),
            signal: cancellationSignal(),
          });
        }
        await storage.putFile(join(paths.derivatives, `${barcode}_ocr.jsonl.gz`), keys.ocr, {
          metadata: { barcode, page_count: String(token.pageCount ?? 0), acquired_at: acquiredAt },
          contentType: 'application/gzip',
        });
        await storage.putFile(join(paths.derivatives, `${barcode}_marc.json`), keys.marc, {
          metadata: { barcode },
          contentType: 'application/json',
        });
        const stored = { ...keys };
        const uploaded = await board.update(barcode, {
          status: archiveSkipped ? 'uploaded; archive was already stored with this ETag' : 'uploaded and verified',
          stored,
        });
        await storage.putBytes(JSON.stringify(uploaded, null, 2), keys.token, { metadata: { barcode }, contentType: 'application/json' });
        return { keys: stored, archiveSkipped };
      });
    },
  };
}

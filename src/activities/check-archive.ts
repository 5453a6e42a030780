/**
 * Before a download: HEAD the archive on the GRIN task queue. This admits each download through the
 * same server-side rate limit as every other GRIN call, confirms the package is still in GRIN's
 * converted pool before a host is claimed for it, and learns the ETag and size to expect.
 */
import type { ActivityDeps } from './deps';
import { ArchiveNotFoundError } from '../grin/errors';

export function createCheckArchiveActivity(deps: ActivityDeps) {
  return {
    async checkArchive(input: { barcode: string; filename: string }): Promise<{ etag: string; size: number }> {
      const head = await deps.grin.headArchive(input.filename);
      if (!head) {
        throw new ArchiveNotFoundError({ endpoint: `HEAD ${input.filename}`, barcode: input.barcode, status: 404 }, input.filename);
      }
      return head;
    },
  };
}

/** Stage 06: derivatives: OCR pages to one JSONL file, MARC fields from the METS file to JSON. */
import { rm } from 'node:fs/promises';
import { makeDerivatives } from '../archive/derivatives';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';

export function createProcessActivity(deps: ActivityDeps) {
  return {
    async processBook(input: { barcode: string }): Promise<{ pageCount: number; hasMarc: boolean }> {
      return classified(async () => {
        const paths = bookPaths(deps.config.processingDir, input.barcode);
        await rm(paths.derivatives, { recursive: true, force: true });
        const result = await makeDerivatives(paths.extracted, input.barcode, paths.derivatives);
        await deps.board.move(input.barcode, '06_processed', {
          status: result.hasMarc ? 'derivatives made' : 'derivatives made; no MARC record in the archive',
          pageCount: result.pageCount,
          hasMarc: result.hasMarc,
        });
        return { pageCount: result.pageCount, hasMarc: result.hasMarc };
      });
    },
  };
}

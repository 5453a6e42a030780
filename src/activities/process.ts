/**
 * Stage 06: derivatives: OCR pages to one JSONL file, MARC fields from the METS file to JSON (each
 * written to a temp name and renamed), then the token moves to 06_processed. Nothing is removed.
 *
 * Run again after a crash at any point, it: makes the derivatives again from the unpacked files if
 * the token has not moved (they come out the same), or, once the token is in 06_processed and both
 * files are there, returns what the token recorded.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDerivatives, marcFileName, ocrFileName } from '../archive/derivatives';
import type { TokenMarc } from '../buckets/token';
import { bookPaths, type ActivityDeps } from './deps';
import { exists, LocalCopyMissingError, reached } from './stage-state';
import { readUnpackedRecord } from './unpacked-record';

export function createProcessActivity(deps: ActivityDeps) {
  return {
    async processBook(input: { barcode: string }): Promise<{ pageCount: number; hasMarc: boolean }> {
      const { barcode } = input;
      const paths = bookPaths(deps.config.processingDir, barcode);
      const token = await deps.board.get(barcode);
      const outputs = [ocrFileName(barcode), marcFileName(barcode)].map((name) => join(paths.derivatives, name));
      if (reached(token, '06_processed') && (await exists(outputs[0])) && (await exists(outputs[1]))) {
        return { pageCount: token?.pageCount ?? 0, hasMarc: token?.hasMarc ?? false };
      }
      // Only a complete unpacked folder (its record is written last) may be made into derivatives.
      if (!(await readUnpackedRecord(paths.unpacked)) || !(await exists(paths.extracted))) {
        throw new LocalCopyMissingError(barcode, paths.extracted, 'unpacked files');
      }
      await rm(paths.derivatives, { recursive: true, force: true });
      const result = await makeDerivatives(paths.extracted, barcode, paths.derivatives);
      deps.crashPoint?.('process:after-output', barcode);
      await deps.board.move(barcode, '06_processed', {
        status: result.hasMarc ? 'derivatives made' : 'derivatives made; no MARC record in the archive',
        pageCount: result.pageCount,
        hasMarc: result.hasMarc,
        ...(result.hasMarc ? { marc: await marcSummary(result.marcPath) } : {}),
      });
      deps.crashPoint?.('process:after-token-move', barcode);
      return { pageCount: result.pageCount, hasMarc: result.hasMarc };
    },
  };
}

/** Title, author and date from the MARC JSON just written: a few short fields for reports and the Web UI. */
async function marcSummary(marcPath: string): Promise<TokenMarc | undefined> {
  try {
    const { marc } = JSON.parse(await readFile(marcPath, 'utf8')) as { marc?: Record<string, unknown> | null };
    if (!marc) return undefined;
    const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, 300) : undefined);
    const title = [text(marc.title), text(marc.titleRemainder)].filter(Boolean).join(' ');
    const out: TokenMarc = {
      title: title || undefined,
      author: text(marc.personalAuthor) ?? text(marc.corporateAuthor) ?? text(marc.meetingAuthor),
      date: text(marc.date1),
    };
    for (const key of Object.keys(out) as (keyof TokenMarc)[]) if (out[key] === undefined) delete out[key];
    return out;
  } catch {
    return undefined; // the summary is a convenience; the full record is in storage
  }
}

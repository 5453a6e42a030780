/**
 * What the harness watches while it injects faults: board counts, and which file stage each worker
 * is running right now (Temporal's pending activities of the books in the file stages).
 */
import type { Client } from '@temporalio/client';
import type { Board } from '../../../src/buckets/board';
import { STAGE_BUCKETS, type Bucket } from '../../../src/buckets/token';
import { bookWorkflowId } from '../../../src/workflows/contracts';

export const FILE_STAGES = ['download', 'decrypt', 'extract', 'process', 'upload', 'cleanup'] as const;
export type FileStage = (typeof FILE_STAGES)[number];

/** The file stage an activity type works on (by name, so renamed activities still match). */
export function stageOfActivity(type: string): FileStage | undefined {
  if (/download|fetchArchive/i.test(type)) return 'download';
  if (/decrypt/i.test(type)) return 'decrypt';
  if (/extract|unpack/i.test(type)) return 'extract';
  if (/^process|derivative/i.test(type)) return 'process';
  if (/upload|storeBook/i.test(type)) return 'upload';
  if (/clean/i.test(type)) return 'cleanup';
  return undefined;
}

/** Buckets a book sits in while the given stage runs (the token moves when the stage ends). */
const BUCKETS_BEFORE: Record<FileStage, Bucket[]> = {
  download: ['02_converted'],
  decrypt: ['03_downloaded'],
  extract: ['04_decrypted', '03_downloaded'],
  process: ['05_extracted'],
  upload: ['06_processed'],
  cleanup: ['06_processed'],
};

export interface RunningActivity {
  barcode: string;
  stage: FileStage;
  type: string;
  attempt: number;
  /** `pid@host` of the worker that runs it. */
  worker: string;
}

export async function settledCount(board: Board): Promise<{ settled: number; counts: Record<Bucket, number> }> {
  const counts = await board.counts();
  return { settled: counts['07_stored'] + counts.failed + counts.cancelled, counts };
}

/** File-stage activities started (not just scheduled) on some worker, for books in the buckets where `stages` run. */
export async function runningFileActivities(
  client: Client,
  board: Board,
  directory: string,
  stages: readonly FileStage[] = FILE_STAGES,
): Promise<RunningActivity[]> {
  const buckets = new Set(stages.flatMap((s) => BUCKETS_BEFORE[s]));
  const barcodes = (await Promise.all([...buckets].map((b) => board.listBarcodes(b)))).flat();
  const found: RunningActivity[] = [];
  await Promise.all(
    barcodes.map(async (barcode) => {
      try {
        const description = await client.workflow.getHandle(bookWorkflowId(directory, barcode)).describe();
        for (const pending of description.raw.pendingActivities ?? []) {
          const type = pending.activityType?.name ?? '';
          const stage = stageOfActivity(type);
          // PENDING_ACTIVITY_STATE_STARTED = 2: a worker holds it.
          if (!stage || !stages.includes(stage) || Number(pending.state) !== 2) continue;
          found.push({ barcode, stage, type, attempt: pending.attempt ?? 1, worker: pending.lastWorkerIdentity ?? '' });
        }
      } catch {
        // The workflow is not there yet, or Temporal is restarting: nothing to aim at now.
      }
    }),
  );
  return found;
}

export function formatCounts(counts: Record<Bucket, number>): string {
  const parts = [...STAGE_BUCKETS, 'failed', 'cancelled'].map((b) => `${b.replace(/^\d\d_/, '')} ${counts[b as Bucket]}`);
  return parts.join(' · ');
}

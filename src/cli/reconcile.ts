/**
 * `grin-pipeline reconcile`: check the board (copies left by a crash mid-move, stale temp files,
 * stray files), list objects in storage that no stored token vouches for (orphans, see
 * storage-orphans.ts), and with --from-temporal also bring the board into line with Temporal. Exit
 * code 1 when it reports problems it did not fix, so a script (or cron) notices that an operator must look.
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { Board, type BoardProblem } from '../buckets/board';
import type { Bucket } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
import { bookSettingsFrom } from '../workflows/book-settings';
import { connectClient } from './common';
import type { CliContext } from './context';
import { EXIT } from './exit-codes';
import { formatCounts } from './progress';
import { findStorageOrphans, type OrphanScan } from './storage-orphans';
import { createStorage } from '../storage';
import { formatReconcileSummary, reconcileFromTemporal, type ReconcileFromTemporalSummary } from './reconcile-temporal';

/** What `reconcile --json` prints (docs/cli.md). */
export interface ReconcileReport {
  dryRun: boolean;
  /** Barcodes that were in more than one bucket; the newest copy was kept. */
  duplicatesResolved: string[];
  /** Abandoned temp files removed, as `<bucket>/<file>`. */
  tempFilesRemoved: string[];
  /** What the board check found and left for an operator (stray or unreadable files). */
  problems: BoardProblem[];
  /** With --from-temporal: what changed (or would) and what was left as the board says. */
  fromTemporal?: ReconcileFromTemporalSummary;
  /** Objects in storage with no stored token (unless --no-storage); reported, never deleted. */
  storage?: OrphanScan;
  /** Why storage could not be listed, when it could not. */
  storageError?: string;
  /** Books per bucket afterwards. */
  counts: Record<Bucket, number>;
}

export async function runReconcile(
  config: PipelineConfig,
  opts: { fromTemporal?: boolean; dryRun?: boolean; fix?: boolean; storage?: boolean; log?: (line: string) => void },
  /** The CLI's board and Temporal client, opened once; default: opened from the config. */
  parts: { board?: () => Promise<Board>; temporal?: () => Promise<Client> } = {},
): Promise<ReconcileReport> {
  const board = await (parts.board?.() ?? Board.open(config.pipelineDir));
  const checked = await board.reconcile();
  let fromTemporal: ReconcileFromTemporalSummary | undefined;
  if (opts.fromTemporal) {
    const client = await (parts.temporal?.() ?? connectClient(config));
    // `--fix` resumes books whose workflow closed unfinished, as `resume` would (loaded only then).
    const resume = async (barcodes: string[]) => {
      const { resumeFromBoard } = await import('./resume');
      await resumeFromBoard(client, config, board, { settings: bookSettingsFrom(config), only: new Set(barcodes), log: opts.log });
    };
    fromTemporal = await reconcileFromTemporal(client, config, board, { dryRun: opts.dryRun, fix: opts.fix, resume, log: opts.log });
  }
  let storage: OrphanScan | undefined;
  let storageError: string | undefined;
  if (opts.storage !== false) {
    try {
      storage = await findStorageOrphans(createStorage(config.storage), config.storage.layout, board);
    } catch (err) {
      storageError = err instanceof Error ? err.message : String(err);
    }
  }
  return {
    dryRun: !!opts.dryRun,
    ...checked,
    ...(fromTemporal ? { fromTemporal } : {}),
    ...(storage ? { storage } : {}),
    ...(storageError ? { storageError } : {}),
    counts: await board.counts(),
  };
}

/**
 * Problems reported and not fixed: stray files, books where the board and Temporal disagree, orphan
 * objects in storage, and storage that could not be listed.
 */
export function unfixedProblems(report: ReconcileReport): number {
  const t = report.fromTemporal;
  const unreadableLeft = t ? t.unreadable.filter((line) => !t.rebuilt.includes(line.split(':')[0])).length : 0;
  return (
    report.problems.length +
    (t ? t.disagreements.length + t.stranded.filter((b) => !b.fixed).length + unreadableLeft : 0) +
    (report.storage?.orphans.length ?? 0) +
    (report.storageError ? 1 : 0)
  );
}

export function formatReconcileReport(r: ReconcileReport): string {
  const lines = [
    `duplicates resolved: ${r.duplicatesResolved.length}, temp files removed: ${r.tempFilesRemoved.length}, problems: ${r.problems.length}`,
  ];
  for (const p of r.problems) lines.push(`  ${p.bucket}/${p.file}: ${p.problem}`);
  if (r.fromTemporal) lines.push(formatReconcileSummary(r.fromTemporal, r.dryRun));
  if (r.storageError) lines.push(`storage could not be listed: ${r.storageError}`);
  if (r.storage) {
    const s = r.storage;
    lines.push(
      `storage: ${s.keysListed} objects, ${s.orphans.length} books with objects and no stored token (orphans)` +
        `${s.uploading.length ? `, ${s.uploading.length} being uploaded` : ''}${s.unknownKeys.length ? `, ${s.unknownKeys.length} keys outside the layout` : ''}`,
    );
    for (const o of s.orphans) {
      const where = o.bucket ? `board: ${o.bucket}` : 'not on the board';
      lines.push(`  orphan ${o.barcode} (${where}): ${o.keys.join(' ')}`);
    }
    if (s.orphans.length) lines.push('  (delete them, or run the book again: its upload stores the token last)');
  }
  lines.push(formatCounts(r.counts));
  return lines.join('\n');
}

export function register(program: Command, context: CliContext): void {
  program
    .command('reconcile')
    .description(
      'Check the board: resolve copies left by a crash mid-move, remove stale temp files, report stray files.\n' +
        'With --from-temporal: also rebuild or repair tokens from what Temporal knows (the board folder was lost or moved).\n' +
        'It also finds books whose workflow closed unfinished (cancelled, terminated, failed) while the token says parked or running, and prints the fix (--fix applies it).\n' +
        'Lists objects in storage with no stored token (orphans left by a cancel, a crash or a storage switch).\n' +
        'Exit code 1 if it reports problems it did not fix (stray or unreadable files; books where board and Temporal disagree; stranded books; orphans).',
    )
    .option('--from-temporal', "write missing tokens and move misplaced ones to the bucket Temporal's workflows say")
    .option('--dry-run', 'with --from-temporal: only report what would change')
    .option(
      '--fix',
      'with --from-temporal: settle books whose workflow closed unfinished while the token says parked or running (a cancelled one → cancelled, others resumed)',
    )
    .option('--no-storage', 'do not list storage for orphan objects (objects with no stored token)')
    .option('--json', 'machine-readable output (docs/cli.md)')
    .action(async (opts: { fromTemporal?: boolean; dryRun?: boolean; fix?: boolean; storage?: boolean; json?: boolean }) => {
      const config = context.config();
      const report = await runReconcile(config, { ...opts, log: (s) => process.stderr.write(`${s}\n`) }, context);
      process.stdout.write((opts.json ? JSON.stringify(report, null, 2) : formatReconcileReport(report)) + '\n');
      if (unfixedProblems(report) > 0) process.exitCode = EXIT.failed;
    });
}

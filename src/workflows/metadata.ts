/**
 * What the Temporal Web UI shows for the pipeline's workflows: the fixed summary and details given at
 * start, and the current details a running workflow keeps up to date (`setCurrentDetails`). Pure
 * functions, safe in workflow code and in clients. Texts only: changing them never affects replay.
 * Never put secrets here (the passphrase, tokens and keys are never in the inputs these read).
 */
import { nextStageBucket } from '../common/stages';
import type { BatchProgress, BookInput, BookStatus } from './contracts';
import { FailureType } from '../common/failure-types';

/** Name and meaning of each signal and query, shown by the Web UI next to "Send a Signal" / "Query". */
export const HANDLER_DESCRIPTIONS = {
  retry: 'Parked book: re-run the stage it failed in, from what is true now (fix the cause first). No effect on a running book.',
  cancel: 'Stop the book for good (argument: a reason, recorded in its token); it moves to the cancelled bucket.',
  status: 'Where the book is: bucket, state, what it is doing, its last error.',
  conversionSeen: 'Sent by the conversion watcher when GRIN lists the book as converted, failed or lost (internal).',
  bookSettled: 'Sent by a book workflow when it is stored, parked or cancelled (internal).',
  booksSettled: 'Sent by a worker for several books that were stored, parked or cancelled (internal).',
  progress: "The batch's counts: started, stored, failed (parked), cancelled, in flight.",
} as const;

/** One line: what the book is, for the workflow list. */
export function bookSummary(input: Pick<BookInput, 'barcode' | 'directory' | 'batchId'>, title?: string): string {
  const name = title ? ` — ${oneLine(title, 80)}` : '';
  return `Book ${input.barcode}${name} (${input.directory}${input.batchId ? `, batch ${input.batchId}` : ''})`;
}

/** Fixed details: what the workflow does, and how an operator acts on it. */
export function bookStaticDetails(input: Pick<BookInput, 'barcode' | 'directory' | 'batchId'>): string {
  return [
    `Copies GRIN book **${input.barcode}** of library directory **${input.directory}** into storage, stage by stage (00_available → 07_stored).`,
    input.batchId ? `Started by batch **${input.batchId}**.` : 'Started on its own (resume or by hand).',
    'A book whose problem retrying cannot fix is parked in `failed`: fix the cause, then send the `retry` signal; or send `cancel` with a reason.',
    `CLI: \`grin-pipeline retry ${input.barcode}\`, \`grin-pipeline cancel ${input.barcode} --reason "…"\`, \`grin-pipeline status ${input.barcode}\`.`,
  ].join('\n');
}

/** What an operator should do about a parked book, by the failure's type and message. */
export function parkedAdvice(type: string | undefined, message: string): string {
  switch (type) {
    case FailureType.Decrypt:
      return /passphrase/i.test(message)
        ? 'fix the GPG passphrase secret (grin.gpgPassphrase), then retry'
        : 'the archive could not be decrypted; check it with gpg by hand, then retry or cancel';
    case FailureType.ChecksumMismatch:
    case FailureType.CorruptArchive:
      return 'the archive is damaged at GRIN (a fresh download failed the same way); ask Google to reprocess the book, then retry, or cancel';
    case FailureType.UnsafeArchive:
      return 'the archive holds unsafe entries; inspect it, then cancel (or retry if GRIN replaced it)';
    case FailureType.ArchiveLimit:
      return 'the archive exceeds limits.*; raise the limit if the book is genuine, restart the workers, then retry';
    case FailureType.NoOcrText:
      return 'the book has no OCR text; cancel it, or retry once GRIN has reprocessed it';
    case FailureType.GrinRefused:
    case FailureType.GrinPermission:
      return 'GRIN refuses this book; check it in GRIN, then retry or cancel';
    case FailureType.ArchiveNotFound:
    case FailureType.ConversionRequestLost:
      return "GRIN keeps losing this book's package; retry to request it again, or cancel";
    default:
      return /configured limit/.test(message)
        ? 'the stage kept failing until the configured time limit; fix what its last error says, then retry'
        : 'fix what the reason says, then retry (or cancel)';
  }
}

/**
 * The reason a parked book shows in the Web UI's list (search attribute `GrinParkReason`), e.g.
 * `CorruptArchiveError at 04_decrypted: not valid gzip data …`: type and stage first, so a narrow
 * column still tells books apart; one line, at most PARK_REASON_MAX characters (a Keyword value).
 */
export const PARK_REASON_MAX = 160;
export function parkReasonText(stage: string, message: string, type: string | undefined): string {
  return oneLine(`${type ?? 'error'} at ${stage}: ${message}`, PARK_REASON_MAX);
}

/** Current details of a book: its stage, what it is doing, its counters, and for a parked book why and what to do. */
export function bookCurrentDetails(status: BookStatus, operatorRetries: number): string {
  const lines: string[] = [];
  if (status.state === 'parked' && status.lastError) {
    const { stage, message, type } = status.lastError;
    lines.push(`**parked** at ${stage}: ${oneLine(message, 400)}`);
    lines.push(`**to do**: ${parkedAdvice(type, message)} — send the \`retry\` signal (or \`cancel\`).`);
    if (type) lines.push(`error type: ${type}`);
  } else {
    // The activity of a settled book already starts with its state ("cancelled: <reason>"): say it once.
    const activity = status.activity.startsWith(`${status.state}: `) ? status.activity.slice(status.state.length + 2) : status.activity;
    lines.push(`**${status.state}** · ${stageLabel(status.bucket)}: ${oneLine(activity, 200)}`);
    if (status.lastError) lines.push(`last error (retried by the operator): ${oneLine(status.lastError.message, 200)}`);
  }
  const counters = [
    status.fileQueue ? `file host queue ${status.fileQueue}` : undefined,
    status.grinFilename ? `GRIN file ${status.grinFilename}` : undefined,
    status.reRequests ? `re-requested ${status.reRequests}×` : undefined,
    status.hostMoves ? `hosts lost ${status.hostMoves}` : undefined,
    operatorRetries ? `operator retries ${operatorRetries}` : undefined,
  ].filter(Boolean);
  if (counters.length) lines.push(counters.join(' · '));
  return lines.join('\n');
}

/** `03_downloaded → 04_decrypted` while a stage runs; the bucket alone otherwise. */
function stageLabel(bucket: BookStatus['bucket']): string {
  const next = nextStageBucket(bucket);
  return next ? `${bucket} → ${next}` : bucket;
}

export function batchSummary(batchId: string, directory: string, total: number): string {
  return `Batch ${batchId}: ${total} book(s) of ${directory}`;
}

export function batchStaticDetails(batchId: string, directory: string, total: number, window: number): string {
  return [
    `Runs ${total} book workflow(s) of directory **${directory}**, at most ${window} at once; each book is a workflow \`grin/${directory}/<barcode>\` with search attribute GrinBatch = "${batchId}".`,
    'Parked books are counted as failed until a `retry` stores them. Query `progress` for the counts.',
    `CLI: \`grin-pipeline batch-status ${batchId}\`; report: \`grin-pipeline report --batch ${batchId}\`.`,
  ].join('\n');
}

export function batchCurrentDetails(p: BatchProgress): string {
  const done = p.stored + p.failed + p.cancelled;
  return [
    `**${done}/${p.total}** settled: ${p.stored} stored · ${p.failed} parked · ${p.cancelled} cancelled`,
    `${p.inFlight.length} in flight (window ${p.window}) · ${p.started} started · ${p.alreadyKnown} already known · next in list ${p.offset}`,
  ].join('\n');
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

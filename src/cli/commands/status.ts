/**
 * `status`: one book's state, its token on the board and, if its workflow exists, what it is doing
 * now (the workflow's status query and its pending activities).
 */
import type { Command } from 'commander';
import { TokenFileError } from '../../buckets/board';
import { validateBarcode } from '../../buckets/barcode';
import { failedStageWords, type BookToken } from '../../buckets/token';
import type { FailureDetails } from '../../common/errors';
import { parkedAdvice } from '../../workflows/metadata';
import { bookWorkflowId, statusQuery, type BookStatus } from '../../workflows/contracts';
import { workflowLine } from '../book-view';
import { UsageError } from '../common';
import type { CliContext } from '../context';
import { EXIT } from '../exit-codes';
import { bookOperatorLines } from '../operator-lines';

export interface PendingActivity {
  type: string;
  attempt: number;
  heartbeat?: unknown;
  lastFailure?: string;
  /** What the book waits for, when its last failure is a fault that hits every book (FailureDetails). */
  waitingFor?: string;
}

type RawPayloads = { payloads?: { data?: Uint8Array | null }[] | null } | null;

/** The first payload of a list, decoded as JSON (the default data converter's encoding), or undefined. */
function firstJson(list: RawPayloads | undefined): unknown {
  const data = list?.payloads?.[0]?.data;
  try {
    return data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}

/** What the book's workflow is waiting on right now (e.g. a download and its byte count, or disk space). */
export function pendingActivities(raw: {
  pendingActivities?:
    | {
        activityType?: { name?: string | null } | null;
        attempt?: number | null;
        heartbeatDetails?: RawPayloads;
        lastFailure?: { message?: string | null; applicationFailureInfo?: { details?: RawPayloads } | null } | null;
      }[]
    | null;
}): PendingActivity[] {
  return (raw.pendingActivities ?? []).map((a) => {
    const details = firstJson(a.lastFailure?.applicationFailureInfo?.details) as FailureDetails | undefined;
    return {
      type: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 1,
      heartbeat: firstJson(a.heartbeatDetails),
      lastFailure: a.lastFailure?.message ?? undefined,
      waitingFor: typeof details?.waitingFor === 'string' ? details.waitingFor : undefined,
    };
  });
}

function printToken(token: BookToken): void {
  const parked = token.bucket === 'failed' ? token.lastError : undefined;
  // Tokens parked before the wording changed say "parked: 04_decrypted failed" for a book that never reached 04.
  const status = parked ? `parked: ${failedStageWords(parked.stage)}` : token.status;
  const lines = [
    `barcode     ${token.barcode} (${token.directory})`,
    `bucket      ${token.bucket}${status ? ` — ${status}` : ''}`,
    token.grinEtag ? `GRIN ETag   ${token.grinEtag}` : undefined,
    token.encryptedBytes !== undefined
      ? `bytes       ${token.encryptedBytes} encrypted, ${token.decryptedBytes ?? '?'} decrypted`
      : undefined,
    token.pageCount !== undefined ? `pages       ${token.pageCount}${token.hasMarc === false ? ' (no MARC record)' : ''}` : undefined,
    token.lastError ? `last error  ${failedStageWords(token.lastError.stage)}: ${token.lastError.message}` : undefined,
    // The same advice the Web UI's book page gives.
    parked
      ? `to do       ${parkedAdvice(parked.type, parked.message)}: \`grin-pipeline retry ${token.barcode}\` (or \`cancel\`)`
      : undefined,
    token.stored ? `stored      ${Object.values(token.stored).join(', ')}` : undefined,
    `stages      ${Object.entries(token.stages)
      .map(([b, t]) => `${b} ${t}`)
      .join('\n            ')}`,
  ];
  process.stdout.write(lines.filter(Boolean).join('\n') + '\n');
}

export function register(program: Command, context: CliContext): void {
  program
    .command('status')
    .description("One book's state: its token on the board and, if its workflow exists, what it is doing now.")
    .argument('<barcode>')
    .option('--json', 'machine-readable output')
    .action(async (barcodeArg: string, opts: { json?: boolean }) => {
      const barcode = validateBarcode(barcodeArg);
      const config = context.config();
      const board = await context.board();
      // An unreadable token (truncated by hand) is said plainly, and the workflow is still shown.
      let token: BookToken | null = null;
      let tokenProblem: string | undefined;
      try {
        token = await board.get(barcode);
      } catch (err) {
        if (!(err instanceof TokenFileError)) throw err;
        tokenProblem = err.message;
      }
      let live: BookStatus | undefined;
      let liveNote: string | undefined;
      let temporalAnswered = true;
      let pending: PendingActivity[] = [];
      let stalled: string | undefined;
      const { WorkflowNotFoundError } = await import('@temporalio/client');
      try {
        const client = await context.temporal();
        const handle = client.workflow.getHandle(bookWorkflowId(config.grin.directory, barcode));
        if (token) stalled = (await (await import('../stalls')).bookStall(client, config, token).catch(() => undefined))?.why;
        live = await handle.query(statusQuery);
        pending = pendingActivities((await handle.describe()).raw);
      } catch (err) {
        temporalAnswered = err instanceof WorkflowNotFoundError;
        liveNote = temporalAnswered
          ? 'no workflow for this book'
          : `workflow not reachable: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (!token && !live && !tokenProblem) {
        // Unknown only if Temporal answered; otherwise the book may exist and we could not ask.
        if (!temporalAnswered)
          throw new UsageError(
            `${barcode} is not on the board at ${config.pipelineDir}, and Temporal could not be asked (${liveNote}).`,
            EXIT.failed,
          );
        throw new UsageError(
          `${barcode} is not on the board at ${config.pipelineDir} and has no workflow: check the barcode (and -c, the config naming the board).`,
        );
      }
      // The board was read, but Temporal did not answer: what is shown may be stale (exit 1, said on stderr).
      if (!temporalAnswered) {
        process.exitCode = EXIT.failed;
        process.stderr.write(`error: Temporal did not answer (${liveNote}); status shows the board's view only\n`);
      }
      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            {
              token,
              ...(tokenProblem ? { tokenProblem } : {}),
              workflow: live ?? null,
              pendingActivities: pending,
              note: liveNote,
              ...(stalled ? { stalled } : {}),
            },
            null,
            2,
          ) + '\n',
        );
        return;
      }
      if (token) printToken(token);
      else if (tokenProblem) {
        process.stdout.write(
          `barcode     ${barcode}\ntoken       unreadable: ${tokenProblem}\n` +
            "            (the book's workflow rebuilds it when it next writes it; `grin-pipeline reconcile --from-temporal` rebuilds it now)\n",
        );
      }
      if (live) process.stdout.write(`workflow    ${workflowLine(live)}\n`);
      else process.stdout.write(`workflow    ${liveNote}\n`);
      if (stalled) process.stdout.write(`STALLED     ${stalled}\n`);
      if (token) for (const line of await bookOperatorLines(config, token.bucket)) process.stdout.write(`waiting     ${line}\n`);
      for (const p of pending) {
        process.stdout.write(
          `activity    ${p.type}, attempt ${p.attempt}` +
            (p.heartbeat !== undefined ? `, last heartbeat ${JSON.stringify(p.heartbeat)}` : '') +
            (p.waitingFor ? `\n            waiting for ${p.waitingFor}` : '') +
            (p.lastFailure ? `\n            last failure: ${p.lastFailure}` : '') +
            '\n',
        );
      }
    });
}

#!/usr/bin/env node
/**
 * The `grin-pipeline` command line: start batches, watch the board, look at one book, retry or
 * cancel parked books, check an archive by hand, set up GRIN credentials. `--help` on every command.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
// Modules that load Temporal's client, undici, the storage SDKs or openpgp are imported inside the
// commands that use them (`await import`), so that `board` or `--help` starts quickly.
import { Board, TokenFileError } from './buckets/board';
import { validateBarcode } from './buckets/barcode';
import { BUCKETS, failedStageWords, type BookToken } from './buckets/token';
import { parkedAdvice } from './workflows/metadata';
import { describeConfig } from './config/load';
import { scrubStandardStreams } from './common/secret-values';
import type { PipelineConfig } from './config/types';
import type { FailureDetails } from './common/errors';
import { bookWorkflowId, cancelSignal, retrySignal, statusQuery, type BookStatus } from './workflows/contracts';
import { bookSettingsFrom, configFrom, connectClient, reportAndExit, UsageError, type GlobalOptions } from './cli/common';
import { defaultBatchId, validateBatchId } from './cli/batch-id';
import { addResumeCommand } from './cli/board-temporal';
import { addReconcileCommand } from './cli/reconcile';
import { addBoardCommand } from './cli/board';
import { addStallsCommand } from './cli/stalls';
import { addUnpackCommand } from './cli/unpack';
import { addReportCommand } from './cli/report';
import { addVerifyCommand } from './cli/verify';
import { addPauseCommands } from './cli/pause';
import { addThrottleCommand } from './cli/throttle';
import { bookOperatorLines } from './cli/operator-lines';
import { createLogger } from './logging/logger';
import { workflowLine } from './cli/book-view';
import { EXIT, EXIT_CODES_HELP } from './cli/exit-codes';

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1.`);
  return n;
};

/** No Temporal around CLI commands: the GRIN client's own retries are their one retry layer. */
async function cliGrinClient(config: PipelineConfig) {
  const [{ grinClientFrom }, { CLI_RETRY }] = await Promise.all([import('./service-clients'), import('./grin/http')]);
  return grinClientFrom(config, { retry: CLI_RETRY, logger: createLogger({ level: config.logging.level, format: config.logging.format }).child({ component: 'grin' }) });
}

interface StartBatchFlags {
  queue?: string;
  sample?: number;
  barcodesFile?: string;
  refreshAllBooks?: boolean;
  batchId?: string;
  window?: number;
  force?: boolean;
  limit?: number;
  dryRun?: boolean;
  wait?: boolean;
  json?: boolean;
}

/** What start-batch does with a batch id, by how that batch stands in Temporal. */
const standingWords = {
  new: 'started',
  ended: 'started again (its last run did not finish)',
  running: 'already running: attached',
  finished: 'already finished: not run again',
} as const;
const dryRunStandingWords = {
  new: 'new: would be started',
  ended: 'its last run did not finish: would be started again',
  running: 'already running: would be attached to',
  finished: 'already finished: would not run again',
} as const;

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
  pendingActivities?: {
    activityType?: { name?: string | null } | null;
    attempt?: number | null;
    heartbeatDetails?: RawPayloads;
    lastFailure?: { message?: string | null; applicationFailureInfo?: { details?: RawPayloads } | null } | null;
  }[] | null;
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

function barcodesFrom(values: string[]): string[] {
  return values.map((v) => validateBarcode(v));
}

function printToken(token: BookToken): void {
  const parked = token.bucket === 'failed' ? token.lastError : undefined;
  // Tokens parked before the wording changed say "parked: 04_decrypted failed" for a book that never reached 04.
  const status = parked ? `parked: ${failedStageWords(parked.stage)}` : token.status;
  const lines = [
    `barcode     ${token.barcode} (${token.directory})`,
    `bucket      ${token.bucket}${status ? ` — ${status}` : ''}`,
    token.grinEtag ? `GRIN ETag   ${token.grinEtag}` : undefined,
    token.encryptedBytes !== undefined ? `bytes       ${token.encryptedBytes} encrypted, ${token.decryptedBytes ?? '?'} decrypted` : undefined,
    token.pageCount !== undefined ? `pages       ${token.pageCount}${token.hasMarc === false ? ' (no MARC record)' : ''}` : undefined,
    token.lastError ? `last error  ${failedStageWords(token.lastError.stage)}: ${token.lastError.message}` : undefined,
    // The same advice the Web UI's book page gives.
    parked ? `to do       ${parkedAdvice(parked.type, parked.message)}: \`grin-pipeline retry ${token.barcode}\` (or \`cancel\`)` : undefined,
    token.stored ? `stored      ${Object.values(token.stored).join(', ')}` : undefined,
    `stages      ${Object.entries(token.stages).map(([b, t]) => `${b} ${t}`).join('\n            ')}`,
  ];
  process.stdout.write(lines.filter(Boolean).join('\n') + '\n');
}

/**
 * Why a book has no running workflow to signal, from where the board has it: the same words `status`
 * uses for an unknown book, and `resume` advised only for a book the board has unfinished.
 */
async function noWorkflowReason(signal: 'retry' | 'cancel', barcode: string, config: PipelineConfig): Promise<string> {
  const bucket = await (await Board.open(config.pipelineDir)).locate(barcode).catch(() => null);
  if (bucket === null) return `not on the board at ${config.pipelineDir} and has no workflow: check the barcode (and -c, the config naming the board)`;
  if (bucket === '07_stored') return `already stored (07_stored): its workflow has finished; there is nothing to ${signal}`;
  if (bucket === 'cancelled') return `already cancelled: its workflow has finished; there is nothing to ${signal}`;
  return `in ${bucket} on the board, but Temporal has no running workflow for it (lost or ended): \`grin-pipeline resume\` starts unfinished books from the board`;
}

export function buildProgram(): Command {
  const program = new Command('grin-pipeline')
    .description('Copy a library\'s Google Books volumes out of GRIN into your storage, durably, on Temporal.\n' +
      'The board (one folder per stage under pipelineDir) shows where every book is.')
    .option('-c, --config <file>', 'pipeline config (YAML); default $GRIN_PIPELINE_CONFIG, else embedded defaults')
    .showHelpAfterError('(add --help for usage)')
    // Throw instead of exiting, so a usage error ends with exit code 2 (reportAndExit); set before
    // the commands are added, which inherit it.
    .exitOverride()
    .addHelpText('after', `\n${EXIT_CODES_HELP}`);
  const globals = () => program.opts<GlobalOptions>();

  program
    .command('start-batch')
    .description('Start (or re-attach to) a batch of books. Books already running or stored are not started again.')
    .argument('[barcodes...]', 'barcodes to process')
    .option('--queue <name>', "books by where GRIN has them now: converted (ready to download, no conversion slot used), unconverted (in _all_books, neither converted nor in GRIN's queue), failed-at-grin (GRIN's conversion failed)")
    .option('--sample <n>', "the first N books of GRIN's _all_books list (cached in pipelineDir/cache)", positiveInt('--sample'))
    .option('--barcodes-file <file>', "one barcode per line ('-' reads standard input; '#' comments allowed)")
    .option('--refresh-all-books', 're-fetch the cached _all_books list first')
    .option('--batch-id <id>', 'name of this batch (same name = same batch); default: derived from the selection, so the same command re-attaches')
    .option('--window <n>', 'books in flight at once (default: concurrency.batchWindow)', positiveInt('--window'))
    .option('--force', 'upload again even where storage already holds the same archive')
    .option('--limit <n>', 'only the first N books of the selection (after invalid and repeated lines are set aside)', positiveInt('--limit'))
    .option('--dry-run', 'print what would start and what would be skipped, and why (stored, running, invalid, repeated); start nothing')
    .option('--wait', 'stay and show progress until every book is stored or parked; exit code 3 if any ends parked in failed or cancelled')
    .option('--json', 'print the batch (with --dry-run: the plan; with --wait: also its summary) as JSON on stdout (docs/cli.md)')
    .action(async (barcodes: string[], opts: StartBatchFlags) => {
      // A bad id is refused before anything is read or started.
      if (opts.batchId !== undefined) validateBatchId(opts.batchId);
      const config = configFrom(globals());
      const log = (s: string) => process.stderr.write(`${s}\n`);
      const { batchStanding, readSelection, refuseInvalidLines, reportDuplicates, skippedLinesMessage, startBatch } = await import('./cli/batch');
      const selection = await readSelection(config, { queue: opts.queue, sample: opts.sample, barcodesFile: opts.barcodesFile, barcodes, refreshAllBooks: opts.refreshAllBooks }, () => cliGrinClient(config), log);
      const list = opts.limit === undefined ? selection.barcodes : selection.barcodes.slice(0, opts.limit);
      const batchId = opts.batchId ?? defaultBatchId(config.grin.directory, list);
      if (opts.dryRun) {
        const client = await connectClient(config);
        const standing = await batchStanding(client, config, batchId);
        const { formatPlanLine, planBatch, summarizePlan } = await import('./cli/batch-plan');
        const plan = await planBatch(client, config, await Board.open(config.pipelineDir), selection, { limit: opts.limit, batchFinished: standing === 'finished' });
        if (opts.json) process.stdout.write(JSON.stringify({ dryRun: true, batchId, standing, plan }, null, 2) + '\n');
        else {
          // In blocks: a million lines written one by one take longer than planning them.
          for (let i = 0; i < plan.length; i += 10_000) process.stdout.write(plan.slice(i, i + 10_000).map((line) => `${formatPlanLine(line)}\n`).join(''));
        }
        log(`dry run, batch ${batchId} (${dryRunStandingWords[standing]}): ${summarizePlan(plan)}; nothing was started`);
        if (selection.invalid.length > 0 && selection.fromGrin) log(skippedLinesMessage(selection));
        else if (selection.invalid.length > 0) {
          log(`a real run refuses this list until its ${selection.invalid.length} invalid line(s) are fixed or removed`);
          process.exitCode = 2;
        }
        return;
      }
      refuseInvalidLines(selection, log);
      reportDuplicates(selection, log);
      if (list.length === 0) throw new UsageError(`No barcodes in ${selection.source}.`);
      if (list.length < selection.barcodes.length) {
        log(`--limit ${opts.limit}: the first ${list.length} of ${selection.barcodes.length} books; the other ${selection.barcodes.length - list.length} are not in this batch`);
      }
      const client = await connectClient(config);
      const standing = await batchStanding(client, config, batchId);
      const handle = await startBatch(client, config, list, { batchId, window: opts.window, force: opts.force, settings: bookSettingsFrom(config) });
      log(`batch ${batchId}: ${list.length} books, workflow ${handle.workflowId}, ${standingWords[standing]}`);
      const started = { dryRun: false, batchId, workflowId: handle.workflowId, books: list.length, standing };
      if (!opts.wait) {
        if (opts.json) process.stdout.write(JSON.stringify(started, null, 2) + '\n');
        log(`follow it with: grin-pipeline batch-status ${batchId}   (or the Temporal Web UI, filter GrinBatch="${batchId}")`);
        return;
      }
      const { followBatch } = await import('./cli/progress');
      const summary = await followBatch(handle, await Board.open(config.pipelineDir), list);
      log(
        `done: ${summary.total} books: ${summary.started} started, ${summary.alreadyKnown} already known; ` +
          `${summary.stored} stored, ${summary.failed} parked in failed, ${summary.cancelled} cancelled`,
      );
      if (opts.json) process.stdout.write(JSON.stringify({ ...started, summary }, null, 2) + '\n');
      if (standing === 'finished') log(`(as counted when the batch finished; \`grin-pipeline batch-status ${batchId}\` shows where its books are now)`);
      if (summary.failed > 0 || summary.cancelled > 0) process.exitCode = EXIT.parked;
    });

  addBoardCommand(program, globals);
  addStallsCommand(program, globals);
  addPauseCommands(program, globals);
  addThrottleCommand(program, globals);

  program
    .command('status')
    .description("One book's state: its token on the board and, if its workflow exists, what it is doing now.")
    .argument('<barcode>')
    .option('--json', 'machine-readable output')
    .action(async (barcodeArg: string, opts: { json?: boolean }) => {
      const barcode = validateBarcode(barcodeArg);
      const config = configFrom(globals());
      const board = await Board.open(config.pipelineDir);
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
        const client = await connectClient(config);
        const handle = client.workflow.getHandle(bookWorkflowId(config.grin.directory, barcode));
        if (token) stalled = (await (await import('./cli/stalls')).bookStall(client, config, token).catch(() => undefined))?.why;
        live = await handle.query(statusQuery);
        pending = pendingActivities((await handle.describe()).raw);
      } catch (err) {
        temporalAnswered = err instanceof WorkflowNotFoundError;
        liveNote = temporalAnswered ? 'no workflow for this book' : `workflow not reachable: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (!token && !live && !tokenProblem) {
        // Unknown only if Temporal answered; otherwise the book may exist and we could not ask.
        if (!temporalAnswered) throw new UsageError(`${barcode} is not on the board at ${config.pipelineDir}, and Temporal could not be asked (${liveNote}).`, EXIT.failed);
        throw new UsageError(`${barcode} is not on the board at ${config.pipelineDir} and has no workflow: check the barcode (and -c, the config naming the board).`);
      }
      // The board was read, but Temporal did not answer: what is shown may be stale (exit 1, said on stderr).
      if (!temporalAnswered) {
        process.exitCode = EXIT.failed;
        process.stderr.write(`error: Temporal did not answer (${liveNote}); status shows the board's view only\n`);
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify({ token, ...(tokenProblem ? { tokenProblem } : {}), workflow: live ?? null, pendingActivities: pending, note: liveNote, ...(stalled ? { stalled } : {}) }, null, 2) + '\n');
        return;
      }
      if (token) printToken(token);
      else if (tokenProblem) {
        process.stdout.write(
          `barcode     ${barcode}\ntoken       unreadable: ${tokenProblem}\n` +
            '            (the book\'s workflow rebuilds it when it next writes it; `grin-pipeline reconcile --from-temporal` rebuilds it now)\n',
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

  const signalCommand = (name: 'retry' | 'cancel', description: string) =>
    program
      .command(name)
      .description(description)
      .argument('[barcodes...]')
      .option('--all-failed', 'every book in the failed bucket')
      .addOption(new Option('--reason <text>', 'recorded in the token').hideHelp(name === 'retry'))
      .option('--json', 'one result per book as JSON on stdout (docs/cli.md)')
      .addHelpText('after', '\nExit code 2 if one of the books has no running workflow (unknown, finished or lost), else 1 if a signal could not be sent; each is named.')
      .action(async (args: string[], opts: { allFailed?: boolean; reason?: string; json?: boolean }) => {
        const config = configFrom(globals());
        let barcodes = barcodesFrom(args);
        if (opts.allFailed) barcodes = [...barcodes, ...(await (await Board.open(config.pipelineDir)).listBarcodes('failed'))];
        if (barcodes.length === 0 && opts.allFailed) {
          // Nothing parked is nothing to do, not a mistake: a script running `retry --all-failed` goes on.
          process.stderr.write(`no books parked in ${join(config.pipelineDir, 'failed')}: nothing to ${name}\n`);
          if (opts.json) process.stdout.write(JSON.stringify({ signal: name, results: [] }, null, 2) + '\n');
          return;
        }
        if (barcodes.length === 0) throw new UsageError(`Name the books to ${name}, or use --all-failed.`);
        const client = await connectClient(config);
        const { WorkflowNotFoundError } = await import('@temporalio/client');
        const results: { barcode: string; sent: boolean; error?: string }[] = [];
        let unknown = false;
        for (const barcode of barcodes) {
          try {
            const handle = client.workflow.getHandle(bookWorkflowId(config.grin.directory, barcode));
            if (name === 'retry') await handle.signal(retrySignal);
            else await handle.signal(cancelSignal, opts.reason);
            results.push({ barcode, sent: true });
            if (!opts.json) process.stdout.write(`${barcode}: ${name} sent\n`);
          } catch (err) {
            unknown ||= err instanceof WorkflowNotFoundError;
            const why = err instanceof WorkflowNotFoundError ? await noWorkflowReason(name, barcode, config) : err instanceof Error ? err.message : String(err);
            results.push({ barcode, sent: false, error: why });
            process.stderr.write(`error: ${barcode}: ${why}\n`);
          }
        }
        if (opts.json) process.stdout.write(JSON.stringify({ signal: name, results }, null, 2) + '\n');
        // A book with no workflow to signal is bad input (2), which outranks a failed send (1).
        if (results.some((r) => !r.sent)) process.exitCode = unknown ? EXIT.badInput : EXIT.failed;
      });
  signalCommand('retry', 'Re-run the stage a parked book failed in (after fixing the cause).');
  signalCommand('cancel', 'Give up on books: their tokens go to cancelled and local files are removed.');

  addUnpackCommand(program, globals);

  program
    .command('check-config')
    .description('Load and validate the config, print what it resolves to (secrets shown only by where they come from), ' +
      'and check that every secret the workers need can be read (exit 2 if not).\n' +
      'With --connect: also talk to Temporal, GRIN and the storage once each (exit 1 if one fails).')
    .option('--connect', 'connect to Temporal (describe the namespace), GRIN (one authenticated listing) and storage (put, read, delete a probe object)')
    .option('--archive <file>', 'with --connect: try the passphrase on this encrypted archive (decrypts its first block only)')
    .option('--json', 'the check lines as JSON on stdout, without the config description (docs/cli.md)')
    .action(async (opts: { connect?: boolean; archive?: string; json?: boolean }) => {
      if (opts.archive !== undefined && !opts.connect) throw new UsageError('--archive is used with --connect.');
      const config = configFrom(globals());
      if (opts.archive !== undefined) {
        // Refused before any connection is tried: a mistyped path is bad input, not a failed check.
        const info = await stat(opts.archive).catch(() => null);
        if (!info?.isFile()) throw new UsageError(`--archive ${opts.archive}: ${info ? 'not a file' : 'no such file'}; give an encrypted archive (.tar.gz.gpg) downloaded from GRIN`);
      }
      const say = (text: string) => {
        if (!opts.json) process.stdout.write(text + '\n');
      };
      say(describeConfig(config) + '\n');
      const { checkConnections, checkSecrets, formatCheckLine } = await import('./cli/check-config');
      const secrets = await checkSecrets(config);
      for (const line of secrets) say(formatCheckLine(line));
      const connections = opts.connect ? await checkConnections(config, { archive: opts.archive }) : [];
      for (const line of connections) say(formatCheckLine(line));
      if (!opts.connect) say('(connections not tested; add --connect)');
      if (opts.json) process.stdout.write(JSON.stringify({ connectionsTested: !!opts.connect, checks: [...secrets, ...connections] }, null, 2) + '\n');
      if (connections.some((line) => line.outcome === 'failed')) process.exitCode = EXIT.failed;
      // A setting to fix (2) outranks a service that did not answer (1).
      if (secrets.some((line) => line.outcome === 'failed')) process.exitCode = EXIT.badInput;
    });

  addReconcileCommand(program, globals);
  addResumeCommand(program, globals);
  addReportCommand(program, globals);
  addVerifyCommand(program, globals);

  program
    .command('batch-status')
    .description("How a batch stands: where its books are now (from Temporal, so retries after the batch count), and the batch's own progress.")
    .argument('<batch-id>')
    .option('--json', 'machine-readable output')
    .action(async (batchId: string, opts: { json?: boolean }) => {
      validateBatchId(batchId, 'batch id');
      const config = configFrom(globals());
      const client = await connectClient(config);
      const { batchStatus, formatBatchStatus } = await import('./cli/batch-status');
      const { deploymentStalls } = await import('./cli/stalls');
      const status = await batchStatus(client, config, batchId);
      // Stalls are the deployment's (a stalled queue holds every batch's books); a failed look leaves them out.
      status.stalls = await deploymentStalls(client, config, await Board.open(config.pipelineDir)).catch(() => undefined);
      process.stdout.write((opts.json ? JSON.stringify(status, null, 2) : formatBatchStatus(status)) + '\n');
    });

  program
    .command('enrich')
    .description("Fetch GRIN's detailed metadata (_barcode_search) for books and write it per book as <out>/<barcode>.grin.json.")
    .argument('[barcodes...]', 'barcodes to look up')
    .option('--barcodes-file <file>', "one barcode per line ('-' reads standard input)")
    .option('--board', 'every book on the board')
    .option('--out <dir>', 'output folder (default: <pipelineDir>/metadata)')
    .option('--json', 'machine-readable summary on stdout (docs/cli.md)')
    .addHelpText('after', '\nExit code 2 if GRIN does not know one of the barcodes (each is named; the others are written).')
    .action(async (args: string[], opts: { barcodesFile?: string; board?: boolean; out?: string; json?: boolean }) => {
      const config = configFrom(globals());
      const log = (s: string) => process.stderr.write(`${s}\n`);
      let barcodes: string[];
      if (opts.board) {
        const board = await Board.open(config.pipelineDir);
        barcodes = (await Promise.all(BUCKETS.map((b) => board.listBarcodes(b)))).flat();
        if (barcodes.length === 0) throw new UsageError(`The board at ${config.pipelineDir} is empty.`);
      } else {
        const { selectBarcodes } = await import('./cli/batch');
        barcodes = await selectBarcodes(config, { barcodesFile: opts.barcodesFile, barcodes: args }, () => cliGrinClient(config), log);
      }
      const out = opts.out ?? join(config.pipelineDir, 'metadata');
      const { unknownBarcodesLine, writeEnrichment } = await import('./cli/enrich');
      const result = await writeEnrichment(await cliGrinClient(config), config.grin.directory, barcodes, out, (done) => {
        if (done % 1000 === 0) log(`${done}/${barcodes.length} looked up`);
      });
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      log(`${result.found} found, ${result.missing} unknown to GRIN; written to ${out}`);
      if (result.unknown.length > 0) {
        // The known ones are written; the unknown ones are bad input, named so they can be fixed.
        log(`error: ${unknownBarcodesLine(result.unknown, out)}`);
        process.exitCode = EXIT.badInput;
      }
    });

  const auth = program.command('auth').description('GRIN credentials (Google OAuth).');
  auth
    .command('setup')
    .description('Run the Google consent flow once and store a refresh token (file mode 0600).')
    .option('--paste', 'no browser on this machine: print the URL and paste the code back')
    .option('--port <n>', 'loopback port for the browser redirect', positiveInt('--port'), 58432)
    .action(async (opts: { paste?: boolean; port: number }) => {
      const config = configFrom(globals());
      if (!config.grin.clientSecretFile || !config.grin.credentialsFile) {
        throw new UsageError('Set grin.clientSecretFile (the OAuth "Desktop app" client JSON from Google Cloud) and grin.credentialsFile (where the token is stored) in the config first.');
      }
      const { runAuthSetup } = await import('./grin/auth-setup');
      await runAuthSetup({
        clientSecretFile: config.grin.clientSecretFile,
        credentialsFile: config.grin.credentialsFile,
        tokenUri: config.grin.tokenUri,
        mode: opts.paste ? 'paste' : 'loopback',
        port: opts.port,
      });
    });

  return program;
}

/** `grin-pipeline board | head`: the reader went away; nothing more to say, and no stack trace. */
function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
}

if (require.main === module) {
  exitQuietlyOnClosedPipe(process.stdout);
  scrubStandardStreams();
  buildProgram()
    .parseAsync(process.argv)
    .catch(reportAndExit);
}

#!/usr/bin/env node
/**
 * The `grin-pipeline` command line: start batches, watch the board, look at one book, retry or
 * cancel parked books, check an archive by hand, set up GRIN credentials. `--help` on every command.
 * Each command is a module (src/cli/commands/ and src/cli/) with `register(program, context)`; this
 * file builds the program and registers them, in the order `--help` lists them.
 */
import { Command } from 'commander';
// Modules that load Temporal's client, undici, the storage SDKs or openpgp are imported inside the
// commands that use them (`await import`), so that `board` or `--help` starts quickly.
import { scrubStandardStreams } from './common/secret-values';
import { reportAndExit, type GlobalOptions } from './cli/common';
import { createCliContext, type CliContext } from './cli/context';
import * as startBatch from './cli/commands/start-batch';
import * as board from './cli/board';
import * as stalls from './cli/stalls';
import * as pause from './cli/pause';
import * as throttle from './cli/throttle';
import * as status from './cli/commands/status';
import * as signal from './cli/commands/signal';
import * as unpack from './cli/unpack';
import * as checkConfig from './cli/commands/check-config';
import * as reconcile from './cli/reconcile';
import * as resume from './cli/board-temporal';
import * as report from './cli/report';
import * as verify from './cli/verify';
import * as batchStatus from './cli/commands/batch-status';
import * as enrich from './cli/commands/enrich';
import * as auth from './cli/commands/auth';
import { EXIT, EXIT_CODES_HELP } from './cli/exit-codes';

/** Where the tests find what `status` shows of a book's pending activities. */
export { pendingActivities, type PendingActivity } from './cli/commands/status';

const COMMANDS: { register(program: Command, context: CliContext): void }[] = [
  startBatch,
  board,
  stalls,
  pause,
  throttle,
  status,
  signal,
  unpack,
  checkConfig,
  reconcile,
  resume,
  report,
  verify,
  batchStatus,
  enrich,
  auth,
];

export function buildProgram(): Command {
  const program = new Command('grin-pipeline')
    .description(
      "Copy a library's Google Books volumes out of GRIN into your storage, durably, on Temporal.\n" +
        'The board (one folder per stage under pipelineDir) shows where every book is.',
    )
    .option('-c, --config <file>', 'pipeline config (YAML); default $GRIN_PIPELINE_CONFIG, else embedded defaults')
    .showHelpAfterError('(add --help for usage)')
    // Throw instead of exiting, so a usage error ends with exit code 2 (reportAndExit); set before
    // the commands are added, which inherit it.
    .exitOverride()
    .addHelpText('after', `\n${EXIT_CODES_HELP}`);
  const context = createCliContext(() => program.opts<GlobalOptions>());
  for (const command of COMMANDS) command.register(program, context);
  // A command that ends with an error ends the process (reportAndExit), which closes everything.
  program.hook('postAction', () => context.close());
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
  buildProgram().parseAsync(process.argv).catch(reportAndExit);
}

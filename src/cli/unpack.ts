/**
 * The `unpack` command: one local archive through decrypt, extract, verify and derivatives, with the
 * config's limits (or the built-in defaults), one-line errors and documented exit codes. Ctrl-C
 * (SIGINT) or SIGTERM stops the run and removes what it had written before exiting.
 */
import { stat } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { validateBarcode } from '../buckets/barcode';
import { PipelineError } from '../common/errors';
import { parseByteSize } from '../config/schema';
import { readSecret } from '../config/secrets';
import type { ExtractLimits } from '../archive/types';
import { UsageError } from './common';
import type { CliContext } from './context';

export const UNPACK_EXIT_CODES = `Exit codes:
  0    unpacked and verified (notes, if any, are in the printed summary)
  1    the archive was refused: wrong passphrase, damaged or hostile archive, decompression bomb,
       checksum mismatch, unsupported cipher; everything the run wrote was removed
  2    bad input: missing archive or passphrase, bad option or config, output folder not empty
       or a symbolic link
  130  interrupted (Ctrl-C; 143 for SIGTERM); everything the run wrote was removed`;

interface UnpackCliOptions {
  passphraseFile?: string;
  decrypted?: boolean;
  out: string;
  barcode?: string;
  maxUnpacked?: number;
  maxRatio?: number;
}

function byteSizeArg(value: string): number {
  const n = parseByteSize(value);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a positive number of bytes, or a size like "1 GiB" or "500 MB".');
  }
  return n;
}

function ratioArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError('expected a number of at least 1, e.g. 50.');
  return n;
}

export function register(program: Command, context: CliContext): void {
  program
    .command('unpack')
    .description(
      'Decrypt, extract, verify and make derivatives of a local archive, outside Temporal (for checking an archive by hand).\n' +
        "Limits (size, entries, expansion ratio) come from the config's `limits` (-c), else the built-in defaults.",
    )
    .argument('<archive>', 'a BARCODE.tar.gz.gpg file (or, with --decrypted, a BARCODE.tar.gz)')
    .option('--passphrase-file <file>', "file holding the GPG passphrase (default: the config's grin.gpgPassphrase)")
    .option('--decrypted', 'the archive is already decrypted (e.g. `gpg -d FILE > FILE.tar.gz`): extract, verify and derive only')
    .requiredOption('--out <dir>', 'output folder: new, or empty (never a symbolic link)')
    .option('--barcode <barcode>', 'name outputs after this barcode (default: from the file name, e.g. PRNC_32101….tar.gz.gpg)')
    .option('--max-unpacked <size>', 'refuse an archive that unpacks to more than this (overrides limits.maxUnpackedBytes)', byteSizeArg)
    .option(
      '--max-ratio <n>',
      'refuse an archive that unpacks to more than n bytes per compressed byte (overrides limits.maxExpansionRatio)',
      ratioArg,
    )
    .addHelpText('after', `\n${UNPACK_EXIT_CODES}`)
    .action(async (archive: string, opts: UnpackCliOptions) => {
      try {
        await runUnpack(archive, opts, context);
      } catch (err) {
        // One line and unpack's own exit code, printed by the CLI's reportAndExit like any command's.
        const { message, exitCode } = describeUnpackError(err);
        throw new UsageError(message, exitCode);
      }
    });
}

async function runUnpack(archive: string, opts: UnpackCliOptions, context: CliContext): Promise<void> {
  // No board is read or written: the built-in defaults (limits, no passphrase) are fine without a config.
  const config = context.config({ required: false });
  const info = await stat(archive).catch(() => null);
  if (!info?.isFile()) throw new UsageError(`The archive ${archive} ${info ? 'is not a file' : 'does not exist'}.`);
  const passphrase = opts.decrypted
    ? undefined
    : opts.passphraseFile !== undefined
      ? readSecret({ file: opts.passphraseFile }, 'GPG passphrase')
      : readSecret(config.grin.gpgPassphrase, 'GPG passphrase');
  const barcode = opts.barcode === undefined ? undefined : validateBarcode(opts.barcode);
  const limits: ExtractLimits = {
    maxUnpackedBytes: opts.maxUnpacked ?? config.limits.maxUnpackedBytes,
    maxEntries: config.limits.maxEntries,
    maxExpansionRatio: opts.maxRatio ?? config.limits.maxExpansionRatio,
    expansionCheckAfterBytes: config.limits.expansionCheckAfterBytes,
  };

  const abort = new AbortController();
  let signalExit = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalExit !== 0) process.exit(signalExit); // a second Ctrl-C: stop at once
    signalExit = signal === 'SIGTERM' ? 143 : 130;
    process.stderr.write('Stopping: removing what this run has written…\n');
    abort.abort();
  };
  // Loaded here, not at the CLI's start-up (openpgp and the archive code are only needed now).
  const [{ tuneGcForStreamingProcess }, { UnpackAborted, unpackArchive }] = await Promise.all([
    import('../archive/gc-tuning'),
    import('../archive/unpack'),
  ]);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // This process does nothing but this one archive: see gc-tuning.ts (~0.5 CPU s less per 300 MB).
  tuneGcForStreamingProcess();
  try {
    const summary = await unpackArchive({
      archive,
      passphrase,
      decrypted: opts.decrypted,
      outDir: opts.out,
      barcode,
      limits,
      signal: abort.signal,
    });
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  } catch (err) {
    if (err instanceof UnpackAborted) throw Object.assign(err, { exitCode: signalExit || 130 });
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** One line and an exit code for anything `unpack` throws (see UNPACK_EXIT_CODES). */
export function describeUnpackError(err: unknown): { message: string; exitCode: number } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { exitCode?: unknown; message?: unknown };
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const message = raw.replace(/\s*\n\s*/g, ' ').trim();
  if (typeof e.exitCode === 'number') return { message, exitCode: e.exitCode };
  if (err instanceof PipelineError) return { message, exitCode: 1 };
  return { message, exitCode: 1 };
}

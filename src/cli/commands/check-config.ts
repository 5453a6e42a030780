/**
 * `check-config`: load and validate the config, print what it resolves to, check the secrets can be
 * read and, with --connect, that Temporal, GRIN and the storage answer (the checks: ../check-config.ts).
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeConfig } from '../../config/load';
import { UsageError } from '../common';
import type { CliContext } from '../context';
import { EXIT } from '../exit-codes';

export function register(program: Command, context: CliContext): void {
  program
    .command('check-config')
    .description(
      'Load and validate the config, print what it resolves to (secrets shown only by where they come from), ' +
        'and check that every secret the workers need can be read (exit 2 if not).\n' +
        'With --connect: also talk to Temporal, GRIN and the storage once each (exit 1 if one fails).',
    )
    .option(
      '--connect',
      'connect to Temporal (describe the namespace), GRIN (one authenticated listing) and storage (put, read, delete a probe object)',
    )
    .option('--archive <file>', 'with --connect: try the passphrase on this encrypted archive (decrypts its first block only)')
    .option('--json', 'the check lines as JSON on stdout, without the config description (docs/cli.md)')
    .action(async (opts: { connect?: boolean; archive?: string; json?: boolean }) => {
      if (opts.archive !== undefined && !opts.connect) throw new UsageError('--archive is used with --connect.');
      const config = context.config();
      if (opts.archive !== undefined) {
        // Refused before any connection is tried: a mistyped path is bad input, not a failed check.
        const info = await stat(opts.archive).catch(() => null);
        if (!info?.isFile())
          throw new UsageError(
            `--archive ${opts.archive}: ${info ? 'not a file' : 'no such file'}; give an encrypted archive (.tar.gz.gpg) downloaded from GRIN`,
          );
      }
      const say = (text: string) => {
        if (!opts.json) process.stdout.write(text + '\n');
      };
      say(describeConfig(config) + '\n');
      const { checkConnections, checkSecrets, formatCheckLine } = await import('../check-config');
      const secrets = await checkSecrets(config);
      for (const line of secrets) say(formatCheckLine(line));
      const connections = opts.connect ? await checkConnections(config, { archive: opts.archive }) : [];
      for (const line of connections) say(formatCheckLine(line));
      if (!opts.connect) say('(connections not tested; add --connect)');
      if (opts.json)
        process.stdout.write(JSON.stringify({ connectionsTested: !!opts.connect, checks: [...secrets, ...connections] }, null, 2) + '\n');
      if (connections.some((line) => line.outcome === 'failed')) process.exitCode = EXIT.failed;
      // A setting to fix (2) outranks a service that did not answer (1).
      if (secrets.some((line) => line.outcome === 'failed')) process.exitCode = EXIT.badInput;
    });
}

/**
 * `grin-pipeline throttle`: change GRIN's call rate and the downloads in flight per host while the
 * workers run (src/control), or go back to the config's figures with --reset. The config's figures
 * stay the ceiling: grin.rateLimitPerSecond is a limit the Temporal server enforces from worker
 * start, and concurrency.booksOnHost bounds what a host holds.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { readOperatorControl, updateOperatorControl } from '../control/operator-control';
import { UsageError } from './common';
import type { CliContext } from './context';
import { existingBoard, printControl } from './pause';

interface ThrottleFlags {
  grinRate?: number;
  downloads?: number;
  reset?: boolean;
  json?: boolean;
}

function rate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected GRIN calls per second, a number above 0 (e.g. 0.5).');
  return n;
}

function downloads(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of downloads in flight per host, at least 1.');
  return n;
}

export function register(program: Command, context: CliContext): void {
  program
    .command('throttle')
    .description(
      'Change, while the workers run, how fast each host starts GRIN calls (--grin-rate) and how many downloads each host ' +
        'runs at once (--downloads); --reset goes back to the config. With no option: print what is in force.',
    )
    .option(
      '--grin-rate <n>',
      'GRIN calls (requests, listings, checks) started per second by each host; at most grin.rateLimitPerSecond',
      rate,
    )
    .option('--downloads <n>', 'downloads in flight per host; at most concurrency.booksOnHost', downloads)
    .option('--reset', "back to the config's figures")
    .option('--json', 'print the controls now in force as JSON (docs/cli.md)')
    .action(async (opts: ThrottleFlags) => {
      const config = context.config();
      await existingBoard(config.pipelineDir);
      if (opts.reset && (opts.grinRate !== undefined || opts.downloads !== undefined))
        throw new UsageError('--reset goes back to the config; give it alone, or give --grin-rate/--downloads without it.');
      const notes: string[] = [];
      if (opts.grinRate !== undefined && opts.grinRate >= config.grin.rateLimitPerSecond) {
        notes.push(
          `--grin-rate ${opts.grinRate} is not below grin.rateLimitPerSecond (${config.grin.rateLimitPerSecond}), the ceiling the Temporal server enforces: that ceiling applies (raising it takes a config change and a worker restart)`,
        );
      }
      if (opts.downloads !== undefined && opts.downloads > config.concurrency.booksOnHost) {
        notes.push(
          `--downloads ${opts.downloads} is above concurrency.booksOnHost (${config.concurrency.booksOnHost}): a host never holds more books than that`,
        );
      }
      const changing = opts.reset || opts.grinRate !== undefined || opts.downloads !== undefined;
      const control = changing
        ? await updateOperatorControl(config.pipelineDir, (c) => {
            if (opts.reset) c.throttle = {};
            else {
              if (opts.grinRate !== undefined) c.throttle.grinRatePerSecond = opts.grinRate;
              if (opts.downloads !== undefined) c.throttle.downloadsPerHost = opts.downloads;
              c.throttle.since = new Date().toISOString();
            }
            return c;
          })
        : await readOperatorControl(config.pipelineDir);
      for (const note of notes) process.stderr.write(`note: ${note}\n`);
      printControl(
        control,
        opts.json,
        changing
          ? 'every worker reads this within a few seconds (no restart)'
          : `config: grin.rateLimitPerSecond ${config.grin.rateLimitPerSecond}, concurrency.booksOnHost ${config.concurrency.booksOnHost}`,
      );
    });
}

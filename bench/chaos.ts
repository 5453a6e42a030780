/**
 * `npm run chaos`: proves with real servers that no transient fault parks a book and nothing is
 * lost, duplicated or leaked (see src/devtools/chaos/run.ts for what is injected and
 * src/devtools/chaos/checks.ts for what is checked). Prints each check with its figure; the last
 * line sums them. Exit 0 only if every check holds.
 *
 *   npm run chaos -- --books 150 --kills 6 --s3-outage 180
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runChaos } from '../src/devtools/chaos/run';

function whole(flag: string, min: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} needs a whole number of at least ${min}, got "${text}"`);
    return n;
  };
}

async function main(): Promise<void> {
  // The project runs on Node 20 by choice (see README); the SDK's notice about Node 22 is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const opts = new Command('chaos')
    .description(
      'Run a batch through real processes (Temporal dev server, moto S3, GRIN simulator, worker processes) while killing workers and ' +
        'Temporal, taking S3 away, filling the disk, revoking GRIN credentials and injecting GRIN faults; then check that every good book ' +
        'is stored once and intact, every bad book parked with its reason, nothing left over and no secret leaked.',
    )
    .option('--books <n>', 'books in the batch (some bad, a few large)', whole('--books', 12), 150)
    .option('--kills <n>', 'kill -9 of worker A, aimed at the file stages in turn (download, decrypt, extract, process, upload, cleanup)', whole('--kills', 0), 6)
    .option('--s3-outage <seconds>', 'how long S3 refuses connections', whole('--s3-outage', 0), 180)
    .option('--disk-full <seconds>', 'how long the processing disk reads as over the threshold', whole('--disk-full', 0), 45)
    .option('--revoke <seconds>', 'how long GRIN answers invalid_grant to token refreshes', whole('--revoke', 0), 30)
    .option('--retry-max <seconds>', 'longest wait between retries of a failing stage (default: the config defaults, 1800 s GRIN / 300 s files)', whole('--retry-max', 1))
    .option('--seed <n>', 'seed for the books, bad books and faults', whole('--seed', 0), 1)
    .option('--deadline <minutes>', 'give up waiting after this long and report what did not settle', whole('--deadline', 1), 40)
    .option('--data <dir>', 'where servers, board, logs go (default: a new temp folder)')
    .option('--keep', 'keep the data folder (logs, board, Temporal db) for inspection', false)
    .parse(process.argv)
    .opts<{ books: number; kills: number; s3Outage: number; diskFull: number; revoke: number; retryMax?: number; seed: number; deadline: number; data?: string; keep: boolean }>();
  const report = await runChaos({
    books: opts.books,
    kills: opts.kills,
    s3OutageSeconds: opts.s3Outage,
    diskFullSeconds: opts.diskFull,
    revokeSeconds: opts.revoke,
    retryMaxSeconds: opts.retryMax,
    seed: opts.seed,
    deadlineMinutes: opts.deadline,
    keep: opts.keep,
    root: opts.data ? resolve(opts.data) : undefined,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${report.summary}\n`);
  process.exit(report.ok ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});

/**
 * `npm run chaos`: proves with real servers that no transient fault parks a book and nothing is
 * lost, duplicated or leaked (see devkit/devtools/chaos/run.ts for what is injected and
 * devkit/devtools/chaos/checks.ts for what is checked). Prints each check with its figure; the last
 * line sums them. Exit 0 only if every check holds.
 *
 *   npm run chaos -- --books 150 --kills 6 --s3-outage 180
 *   npm run chaos -- --profile single-host --books 30 --kills 4 --retry-max 30 --deadline 14
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { CHAOS_PROFILES, runChaos, type ChaosProfile } from '../devkit/devtools/chaos/run';

function whole(flag: string, min: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} needs a whole number of at least ${min}, got "${text}"`);
    return n;
  };
}

function profile(text: string): ChaosProfile {
  if (!(CHAOS_PROFILES as readonly string[]).includes(text))
    throw new InvalidArgumentError(`--profile must be one of ${CHAOS_PROFILES.join(', ')}, got "${text}"`);
  return text as ChaosProfile;
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
    .addHelpText(
      'after',
      [
        '',
        'Profiles:',
        '  full         (default) two workers (one killed for good), worker kills aimed at each file stage, a Temporal restart, an',
        '               S3 outage, a full disk, revoked GRIN credentials, GRIN request faults throughout; concurrency set small.',
        '  single-host  one worker with the default concurrency, as a library runs it: --kills kill -9s that land while a download',
        '               is in progress (the simulator slows a third of the archive bodies), --bursts bursts of GRIN answering 429 to',
        "               every archive request for --burst-seconds each, GRIN request faults throughout. The pipeline's stall",
        '               detector is read every 10 s during the run and once after it: the run fails if any pipeline queue (workflow,',
        '               GRIN, shared file queue, host file queue) goes more than 2 minutes with tasks waiting and no poller, if a',
        '               book stalls in a file stage, or if any book does not settle. A queue starved longer than --wedge-minutes',
        '               ends the run early (wedged). --s3-outage, --disk-full and --revoke do not apply.',
        '',
        'Example: npm run chaos -- --profile single-host --books 30 --kills 4 --retry-max 30 --deadline 14',
      ].join('\n'),
    )
    .option(
      '--profile <name>',
      `which faults and deployment: ${CHAOS_PROFILES.join(' or ')} (see Profiles below)`,
      profile,
      'full' as ChaosProfile,
    )
    .option('--bursts <n>', 'single-host: bursts of archive 429s', whole('--bursts', 0), 2)
    .option('--burst-seconds <seconds>', 'single-host: how long each 429 burst lasts', whole('--burst-seconds', 1), 30)
    .option(
      '--wedge-minutes <minutes>',
      'single-host: stop waiting once a queue has had tasks and no poller this long',
      whole('--wedge-minutes', 3),
      6,
    )
    .option('--books <n>', 'books in the batch (some bad, a few large)', whole('--books', 12), 150)
    .option(
      '--kills <n>',
      'kill -9 of worker A, aimed at the file stages in turn (download, decrypt, extract, process, upload, cleanup)',
      whole('--kills', 0),
      6,
    )
    .option('--s3-outage <seconds>', 'how long S3 refuses connections', whole('--s3-outage', 0), 180)
    .option('--disk-full <seconds>', 'how long the processing disk reads as over the threshold', whole('--disk-full', 0), 45)
    .option('--revoke <seconds>', 'how long GRIN answers invalid_grant to token refreshes', whole('--revoke', 0), 30)
    .option(
      '--retry-max <seconds>',
      'longest wait between retries of a failing stage (default: the config defaults, 1800 s GRIN / 300 s files)',
      whole('--retry-max', 1),
    )
    .option('--seed <n>', 'seed for the books, bad books and faults', whole('--seed', 0), 1)
    .option('--deadline <minutes>', 'give up waiting after this long and report what did not settle', whole('--deadline', 1), 40)
    .option('--data <dir>', 'where servers, board, logs go (default: a new temp folder)')
    .option('--keep', 'keep the data folder (logs, board, Temporal db) for inspection', false)
    .parse(process.argv)
    .opts<{
      profile: ChaosProfile;
      bursts: number;
      burstSeconds: number;
      wedgeMinutes: number;
      books: number;
      kills: number;
      s3Outage: number;
      diskFull: number;
      revoke: number;
      retryMax?: number;
      seed: number;
      deadline: number;
      data?: string;
      keep: boolean;
    }>();
  const report = await runChaos({
    profile: opts.profile,
    bursts: opts.bursts,
    burstSeconds: opts.burstSeconds,
    wedgeMinutes: opts.wedgeMinutes,
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

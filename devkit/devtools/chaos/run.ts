/**
 * `npm run chaos`: a batch of books through real processes (Temporal dev server with a database
 * file, moto S3 behind a TCP proxy, the GRIN simulator, two worker processes) while faults are
 * injected with no operator action: worker `kill -9`s aimed at each file stage, a second worker
 * killed for good, Temporal killed and restarted, S3 unreachable, the disk threshold crossed during
 * downloads, GRIN's credentials revoked for a while, and GRIN request faults throughout. Then every
 * check of `checks.ts` runs and prints its figure.
 *
 * The `single-host` profile is the ordinary deployment instead: one worker with the default
 * concurrency, its `kill -9`s landing while a download is in progress, bursts of GRIN answering
 * 429 to every archive request, slow bodies; and the pipeline's stall detector read throughout
 * (liveness.ts): no queue may go more than 2 minutes with tasks waiting and no poller, and every
 * book must settle. A run whose queue stays starved past `wedgeMinutes` is wedged: it stops there.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { Board } from '../../../src/buckets/board';
import { startBatch } from '../../../src/cli/batch';
import { bookSettingsFrom } from '../../../src/workflows/book-settings';
import { loadConfig } from '../../../src/config/load';
import { startS3Server } from '../servers';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy';
import type { batchWorkflow, BatchSummary } from '../../../src/workflows/batch';
import { batchProgressQuery, bookWorkflowId } from '../../../src/workflows/contracts';
import type { SimulatorControlStats } from '../../simulator';
import { runChecks, type ChaosCheck } from './checks';
import { LivenessWatch } from './liveness';
import { FILE_STAGES, formatCounts, runningFileActivities, settledCount, type FileStage, type RunningActivity } from './observe';
import { chaosPlan, type ChaosPlan } from './plan';
import {
  startRestartableTemporal,
  startSimulatorProcess,
  workerProcess,
  type RestartableTemporal,
  type SimulatorProcess,
  type WorkerProcess,
} from './processes';
import type { Secret } from './secrets';

export type ChaosProfile = 'full' | 'single-host';
export const CHAOS_PROFILES: readonly ChaosProfile[] = ['full', 'single-host'];

export interface ChaosOptions {
  /** `full` (default): two workers and every fault; `single-host`: see the module comment. */
  profile?: ChaosProfile;
  /** single-host: how many bursts of archive 429s, and how long each lasts. */
  bursts?: number;
  burstSeconds?: number;
  /** single-host: stop waiting once a queue has been starved this long (the pipeline is wedged). Default 6. */
  wedgeMinutes?: number;
  books: number;
  kills: number;
  s3OutageSeconds: number;
  seed: number;
  keep: boolean;
  /** Overall limit: past it the run stops waiting, reports what did not settle, and fails. */
  deadlineMinutes: number;
  diskFullSeconds: number;
  revokeSeconds: number;
  /** Longest wait between retries of a failing stage (the config's grin/fileRetryMaxSeconds); default: the config's defaults. */
  retryMaxSeconds?: number;
  /** Where everything goes (default: a new temp folder). */
  root?: string;
  log: (line: string) => void;
}

export interface ChaosReport {
  ok: boolean;
  checks: ChaosCheck[];
  figures: Record<string, string | number>;
  root: string;
  /** One line summing every figure. */
  summary: string;
}

const BUCKET = 'chaos';
/** The liveness invariant: no pipeline queue with tasks waiting and no poller for longer than this. */
export const QUEUE_STARVED_LIMIT_MS = 120_000;
/** A book in a file stage without progress this long is stalled, in a chaos run (production default: 30 min). */
const CHAOS_BOOK_STALL_MS = 5 * 60_000;
/** How long the batch may take to notice that its last book settled. */
const BATCH_GRACE_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secret = (bytes = 24) => randomBytes(bytes).toString('base64url');

/** One injected fault, fired once the given share of books has settled. */
interface ScheduledFault {
  at: number;
  name: string;
  fire: () => Promise<void>;
  fired?: string;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = (line: string) => opts.log(`[chaos +${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`);
  const plan: ChaosPlan = chaosPlan(opts.books, opts.seed);
  const singleHost = opts.profile === 'single-host';
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'grin-chaos-'));
  const dir = (...parts: string[]) => {
    const p = join(root, ...parts);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const logs = dir('logs');
  const secretsDir = dir('secrets');
  const pipelineDir = dir('pipeline');
  const processing = { a: dir('processing-a'), b: dir('processing-b') };
  const workerTmp = dir('worker-tmp');
  const workerCwd = dir('worker-cwd');
  const scratch = dir('scratch');
  const diskUsageFile = join(root, 'disk-usage-override');
  log(
    `profile ${singleHost ? 'single-host' : 'full'}; data in ${root}; ${plan.barcodes.length} books (${plan.good.length} good, ${plan.bad.size} bad, ${plan.large.length} large), seed ${plan.seed}`,
  );

  const values = {
    passphrase: `chaos-passphrase-${secret()}`,
    clientId: 'chaos-client.apps.example',
    clientSecret: `chaos-client-secret-${secret()}`,
    refreshToken: `chaos-refresh-${secret()}`,
    s3KeyId: `AKIACHAOS${randomBytes(6).toString('hex').toUpperCase()}`,
    s3Secret: `chaos-s3-secret-${secret()}`,
  };
  const secrets: Secret[] = [
    { name: 'GPG passphrase', match: values.passphrase },
    { name: 'OAuth client secret', match: values.clientSecret },
    { name: 'refresh token', match: values.refreshToken },
    { name: 'access token', match: /sim-at-[A-Za-z0-9_-]{8,}/ },
    { name: 'S3 access key id', match: values.s3KeyId },
    { name: 'S3 secret key', match: values.s3Secret },
  ];

  const stops: (() => Promise<void>)[] = [];
  const figures: Record<string, string | number> = {};
  const workers: WorkerProcess[] = [];
  let temporal: RestartableTemporal | undefined;
  let proxy: TcpProxy | undefined;
  let sim: SimulatorProcess | undefined;
  let checks: ChaosCheck[] = [];
  try {
    // ---- servers ------------------------------------------------------------------------------
    log('starting Temporal (db file), moto S3 behind a TCP proxy, the GRIN simulator');
    const [t, moto, s] = await Promise.all([
      startRestartableTemporal({ dbFile: join(root, 'temporal.db'), logFile: join(logs, 'temporal.log'), log }),
      startS3Server({ logFile: join(logs, 'moto.log'), log }),
      startSimulatorProcess({
        ...plan.simulator,
        passphrase: values.passphrase,
        dataDir: join(root, 'simulator'),
        logFile: join(logs, 'simulator.log'),
        oauth: { clientId: values.clientId, clientSecret: values.clientSecret, refreshToken: values.refreshToken },
      }),
    ]);
    temporal = t;
    sim = s;
    stops.push(
      () => t.stop(),
      () => moto.stop(),
      () => s.stop(),
    );
    const motoUrl = new URL(moto.address);
    proxy = await startTcpProxy({ host: motoUrl.hostname, port: Number(motoUrl.port) });
    const p = proxy;
    stops.push(() => p.close());
    const s3 = new S3Client({
      endpoint: moto.address,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: values.s3KeyId, secretAccessKey: values.s3Secret },
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));

    // ---- secrets and configs, as an operator would write them ---------------------------------
    const secretFile = (name: string, content: string) => {
      const file = join(secretsDir, name);
      writeFileSync(file, content, { mode: 0o600 });
      return file;
    };
    const passphraseFile = secretFile('gpg-passphrase.txt', values.passphrase);
    const clientSecretFile = secretFile(
      'client_secret.json',
      JSON.stringify({ installed: { client_id: values.clientId, client_secret: values.clientSecret, token_uri: sim.tokenUri } }),
    );
    const s3KeyFile = secretFile('s3-key-id.txt', values.s3KeyId);
    const s3SecretFile = secretFile('s3-secret.txt', values.s3Secret);
    const configFor = (host: 'a' | 'b') => {
      // Each host keeps its own OAuth credentials file (refreshed tokens are written back to it).
      const credentialsFile = secretFile(`credentials-${host}.json`, JSON.stringify({ refresh_token: values.refreshToken }));
      const config = {
        temporal: { address: t.address },
        grin: {
          baseUrl: s.baseUrl,
          directory: plan.directory,
          credentialsFile,
          clientSecretFile,
          tokenUri: s.tokenUri,
          gpgPassphrase: { file: passphraseFile },
          rateLimitPerSecond: 20,
          pollIntervalSeconds: 2,
          timeouts: { requestSeconds: 30, connectSeconds: 5 },
          // As a library sets it: under GRIN's pool, with room for one request too many per host.
          // GRIN's pool is smaller than the batch, so without this packages are evicted before
          // download whenever downloads fall behind (on a busy machine, books then parked after
          // five re-requests).
          pacing: { maxRequestedNotDownloaded: Math.max(2, (plan.simulator.poolCap ?? 5_000) - 2) },
        },
        pipelineDir,
        processingDir: processing[host],
        retentionDays: 0,
        storage: {
          kind: 's3',
          bucket: BUCKET,
          region: 'us-east-1',
          endpoint: p.url,
          forcePathStyle: true,
          checksums: 'when_required',
          accessKeyId: { file: s3KeyFile },
          secretAccessKey: { file: s3SecretFile },
        },
        limits: { diskUsageThreshold: 0.98 },
        // single-host: the defaults, as a library runs it.
        // The workers' own stall watch logs what the harness checks (single-host): a queue starved 2 min, a book quiet 5 min.
        ...(singleHost
          ? { metrics: { queueStallSeconds: QUEUE_STARVED_LIMIT_MS / 1000, bookStallMinutes: CHAOS_BOOK_STALL_MS / 60_000 } }
          : {}),
        ...(singleHost
          ? {}
          : { concurrency: { batchWindow: Math.min(40, plan.barcodes.length), grinActivities: 8, fileActivities: 3, uploadParts: 4 } }),
        ...(opts.retryMaxSeconds
          ? { timeouts: { grinRetryMaxSeconds: opts.retryMaxSeconds, fileRetryMaxSeconds: opts.retryMaxSeconds } }
          : {}),
      };
      const file = join(root, `config-${host}.json`);
      writeFileSync(file, JSON.stringify(config, null, 2));
      return file;
    };
    const configA = configFor('a');
    const configB = configFor('b');
    const config = loadConfig({ file: configA, env: {} });

    // ---- workers --------------------------------------------------------------------------------
    const env = {
      ...process.env,
      TMPDIR: workerTmp,
      TMP: workerTmp,
      TEMP: workerTmp,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const a = workerProcess({
      name: 'worker A',
      hostId: 'host-a',
      configFile: configA,
      diskUsageFile,
      logFile: join(logs, 'worker-a.log'),
      env,
      cwd: workerCwd,
      restartOnCrash: true,
      log,
    });
    const b = workerProcess({
      name: 'worker B',
      hostId: 'host-b',
      configFile: configB,
      diskUsageFile,
      logFile: join(logs, 'worker-b.log'),
      env,
      cwd: workerCwd,
      restartOnCrash: false,
      log,
    });
    workers.push(a);
    await a.start();
    if (!singleHost) {
      workers.push(b);
      await b.start();
    }

    // Not closed at the end: a batch that never completed leaves `result()` retrying on this
    // connection, and closing under it throws from a gRPC timer. The process exits instead.
    const connection = await Connection.connect({ address: t.address });
    const client = new Client({ connection });
    const board = await Board.open(pipelineDir);
    const handle: WorkflowHandle<typeof batchWorkflow> = await startBatch(client, config, plan.barcodes, {
      batchId: `chaos-${plan.seed}`,
      settings: bookSettingsFrom(config, {
        pollIntervalSeconds: 2,
        queueFullRetrySeconds: 10,
        hostPickupTimeoutSeconds: 60,
        heartbeatTimeoutSeconds: 30,
      }),
    });
    log(`batch ${handle.workflowId} started: ${plan.barcodes.length} books`);
    // The stall detector, read every 10 s while the run goes on (single-host profile).
    const liveness = singleHost
      ? new LivenessWatch({
          client,
          config,
          board,
          bookRules: { fileStageMs: CHAOS_BOOK_STALL_MS, conversionMs: 24 * 3_600_000 },
          intervalMs: 10_000,
          queueLimitMs: QUEUE_STARVED_LIMIT_MS,
          log,
        })
      : undefined;
    liveness?.start();
    const wedgeMs = (opts.wedgeMinutes ?? 6) * 60_000;
    /** A queue starved past the wedge limit: nothing will move, waiting for the deadline only burns the machine. */
    const wedged = () => {
      const worst = liveness?.longestStarvedNow();
      return worst && worst.starvedMs > wedgeMs ? worst : undefined;
    };

    // ---- the batch, its deadline, and the faults --------------------------------------------------
    const deadline = started + opts.deadlineMinutes * 60_000;
    const batch: { summary?: BatchSummary; error?: string; done: boolean } = { done: false };
    // Temporal goes away for a while during the run: only the workflow's own outcome ends the wait.
    const outcome = async (): Promise<BatchSummary> => {
      for (;;) {
        try {
          return await handle.result();
        } catch (err) {
          if (err instanceof WorkflowFailedError) throw err;
          await sleep(2000);
        }
      }
    };
    const result = outcome().then(
      (summary) => {
        batch.summary = summary;
        batch.done = true;
      },
      (err: unknown) => {
        batch.error = err instanceof Error ? err.message : String(err);
        batch.done = true;
      },
    );
    const stagesHit = new Set<FileStage>();
    const killNotes: string[] = [];
    let lastRunning: RunningActivity[] = [];
    // Worker identities name the process (src/host-identity.ts: `… pid=<pid> …`; the SDK's default was `<pid>@<host>`).
    const runsOn = (identity: string, w: WorkerProcess) => identity.startsWith(`${w.pid}@`) || identity.split(' ').includes(`pid=${w.pid}`);

    /** Waits (up to `ms`) until a worker runs an activity of `stage`; returns what ran on `worker`. */
    const aimAt = async (stages: readonly FileStage[], worker: WorkerProcess, ms: number): Promise<RunningActivity[]> => {
      const until = Math.min(Date.now() + ms, deadline);
      while (Date.now() < until && !batch.done) {
        lastRunning = (await runningFileActivities(client, board, plan.directory, stages)).filter((r) => runsOn(r.worker, worker));
        if (lastRunning.length) return lastRunning;
        await sleep(150);
      }
      return [];
    };

    // Each kill aims at the stages no kill has hit yet, so a stage missed once is aimed at again.
    const killStages = Array.from({ length: opts.kills }, (_, i) => FILE_STAGES[i % FILE_STAGES.length]);
    const unhit = () => FILE_STAGES.filter((st) => !stagesHit.has(st));
    const timers: NodeJS.Timeout[] = [];
    const later = (seconds: number, fn: () => void) => timers.push(setTimeout(fn, seconds * 1000));
    const spread = (i: number, n: number, from: number, to: number) => (n <= 1 ? from : from + ((to - from) * i) / (n - 1));
    const burstSeconds = opts.burstSeconds ?? 30;
    const bursts = opts.bursts ?? 2;
    const singleHostFaults: ScheduledFault[] = [
      ...Array.from({ length: opts.kills }, (_, i): ScheduledFault => ({
        at: spread(i, opts.kills, 0.05, 0.7),
        name: `kill -9 worker A mid-download (#${i + 1})`,
        fire: async () => {
          // A download in progress: fetchArchive started on a worker (the simulator's slow bodies keep it going).
          const hit = await aimAt(['download'], a, 120_000);
          await a.kill9();
          const what = hit.length
            ? hit.map((h) => `${h.type} of ${h.barcode} (attempt ${h.attempt})`).join(', ')
            : 'no download (none started within 120 s)';
          hit.forEach((h) => stagesHit.add(h.stage));
          killNotes.push(`aimed at download: killed during ${what}`);
          log(`kill -9 worker A (aimed at a download in progress): it was running ${what}`);
          await sleep(3000);
          await a.start();
        },
      })),
      ...Array.from({ length: bursts }, (_, i): ScheduledFault => ({
        at: spread(i, bursts, 0.1, 0.5),
        name: `GRIN answers 429 to every archive request for ${burstSeconds} s (#${i + 1})`,
        fire: async () => {
          await s.setFaults({ rateLimitArchive: 1 });
          log(`GRIN archive 429 burst #${i + 1}: every HEAD/GET of an archive refused for ${burstSeconds} s`);
          later(burstSeconds, () => {
            s.setFaults({ rateLimitArchive: plan.simulator.faults?.rateLimitArchive }).then(
              () => log(`GRIN archive 429 burst #${i + 1} over`),
              (err: unknown) => log(`could not end the 429 burst: ${String(err)}`),
            );
          });
        },
      })),
    ];
    const faults: ScheduledFault[] = singleHost
      ? singleHostFaults.sort((x, y) => x.at - y.at)
      : [
          ...killStages.map((stage, i) => ({
            at: spread(i, killStages.length, 0.03, 0.8),
            name: `kill -9 worker A (#${i + 1})`,
            fire: async () => {
              const aim = unhit().length ? unhit() : [stage];
              let hit = await aimAt(aim, a, 120_000);
              if (!hit.length) hit = await aimAt(FILE_STAGES, a, 10_000); // missed: kill it in whatever it does
              await a.kill9();
              const what = hit.length ? hit.map((h) => `${h.type} of ${h.barcode} (attempt ${h.attempt})`).join(', ') : 'no file activity';
              hit.forEach((h) => stagesHit.add(h.stage));
              killNotes.push(`aimed at ${aim.join('/')}: killed during ${what}`);
              log(`kill -9 worker A (aimed at ${aim.join('/')}): it was running ${what}`);
              await sleep(3000);
              await a.start();
            },
          })),
          {
            at: 0.15,
            name: 'kill -9 worker B for good',
            fire: async () => {
              const hit = await aimAt(FILE_STAGES, b, 60_000);
              await b.kill9();
              log(
                `kill -9 worker B for good, while running ${hit.map((h) => `${h.type} of ${h.barcode}`).join(', ') || 'no file activity'}; its books must move to worker A`,
              );
            },
          },
          {
            at: 0.25,
            name: 'disk above the threshold during downloads',
            fire: async () => {
              await aimAt(['download'], a, 60_000);
              writeFileSync(diskUsageFile, '0.999\n');
              log(`disk usage forced to 99.9% (threshold 98%) for ${opts.diskFullSeconds} s, with downloads running`);
              later(opts.diskFullSeconds, () => {
                rmSync(diskUsageFile, { force: true });
                log('disk usage back to real');
              });
            },
          },
          {
            at: 0.4,
            name: 'kill -9 and restart of the Temporal server',
            fire: async () => {
              log('kill -9 Temporal server; restarting it on the same database file in 5 s');
              await t.kill9AndRestart(5000);
              log('Temporal server is back');
            },
          },
          {
            at: 0.5,
            name: `S3 unreachable for ${opts.s3OutageSeconds} s`,
            fire: async () => {
              await aimAt(['upload'], a, 60_000);
              p.down();
              log(`S3 down (connections refused) for ${opts.s3OutageSeconds} s`);
              later(opts.s3OutageSeconds, () => {
                p.up();
                log('S3 back up');
              });
            },
          },
          {
            at: 0.65,
            name: `GRIN credentials revoked for ${opts.revokeSeconds} s`,
            fire: async () => {
              await s.setFaults({ revokedCredentials: {} });
              log(`GRIN credentials revoked (invalid_grant) for ${opts.revokeSeconds} s`);
              later(opts.revokeSeconds, () => {
                s.setFaults({ revokedCredentials: null }).then(
                  () => log('GRIN credentials valid again'),
                  (err: unknown) => log(`could not restore GRIN credentials: ${String(err)}`),
                );
              });
            },
          },
        ].sort((x, y) => x.at - y.at);

    let lastProgress = 0;
    let wedge: ReturnType<typeof wedged>;
    let settled = 0;
    for (const fault of faults) {
      while (!batch.done && Date.now() < deadline && !(wedge = wedged())) {
        ({ settled } = await settledCount(board));
        if (settled / plan.barcodes.length >= fault.at) break;
        if (Date.now() - lastProgress > 20_000) {
          lastProgress = Date.now();
          log(`board: ${formatCounts((await settledCount(board)).counts)}`);
        }
        await sleep(500);
      }
      if (batch.done || Date.now() >= deadline || wedge) break;
      await fault.fire().then(
        () => (fault.fired = `at ${((Date.now() - started) / 1000).toFixed(0)} s, ${settled} books settled`),
        (err: unknown) => log(`!! ${fault.name} could not be injected: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    // Every book settled but the batch still running is a hang, not slowness: report it after a grace period.
    let allSettledAt: number | undefined;
    while (!batch.done && Date.now() < deadline && !(wedge ??= wedged())) {
      const now = await settledCount(board);
      if (now.settled < plan.barcodes.length) allSettledAt = undefined;
      else allSettledAt ??= Date.now();
      if (allSettledAt !== undefined && Date.now() - allSettledAt > BATCH_GRACE_MS) {
        const progress = await handle.query(batchProgressQuery).catch((err: unknown) => `(progress query failed: ${String(err)})`);
        batch.error = `every book settled ${BATCH_GRACE_MS / 1000} s ago, but the batch workflow is still running; its progress: ${JSON.stringify(progress)}`;
        log(`!! ${batch.error}`);
        break;
      }
      if (Date.now() - lastProgress > 20_000) {
        lastProgress = Date.now();
        log(`board: ${formatCounts(now.counts)}`);
      }
      await sleep(1000);
    }
    if (wedge) {
      batch.error = `wedged: the ${wedge.role} queue ${wedge.queue} has had ${wedge.backlog} ${wedge.kind} task(s) waiting and no poller for ${Math.round(wedge.starvedMs / 1000)} s`;
      log(`!! ${batch.error}; not waiting for the deadline`);
    }
    // Whatever happened, the faults end here: S3 up, real disk usage, valid credentials.
    timers.forEach(clearTimeout);
    if (singleHost) await s.setFaults({ rateLimitArchive: plan.simulator.faults?.rateLimitArchive }).catch(() => undefined);
    p.up();
    rmSync(diskUsageFile, { force: true });
    await s.setFaults({ revokedCredentials: null }).catch(() => undefined);
    if (!batch.done && (!batch.error || wedge)) {
      batch.error ??= `not settled within the deadline of ${opts.deadlineMinutes} min`;
      log(`!! the batch did not complete${wedge ? '' : ` within ${opts.deadlineMinutes} min`}; books that did not settle:`);
      for (const barcode of plan.barcodes) {
        const token = await board.get(barcode).catch(() => null);
        if (token && ['07_stored', 'failed'].includes(token.bucket)) continue;
        let live = '';
        try {
          const d = await client.workflow.getHandle(bookWorkflowId(plan.directory, barcode)).describe();
          live = (d.raw.pendingActivities ?? [])
            .map(
              (pa) =>
                `${pa.activityType?.name} attempt ${pa.attempt}${pa.lastFailure?.message ? `, last failure: ${pa.lastFailure.message}` : ''}`,
            )
            .join('; ');
          live = `workflow ${d.status.name}${live ? `; pending ${live}` : ''}`;
        } catch (err) {
          live = `no workflow (${err instanceof Error ? err.message : String(err)})`;
        }
        log(`   ${barcode}: ${token ? `${token.bucket}${token.status ? ` (${token.status})` : ''}` : 'no token'}; ${live}`);
      }
    } else if (batch.done) {
      await result;
      log(`batch ${batch.summary ? `completed: ${JSON.stringify(batch.summary)}` : `failed: ${batch.error}`}`);
    }
    figures.minutes = Number(((Date.now() - started) / 60_000).toFixed(1));
    const notFired = faults.filter((f) => !f.fired).map((f) => f.name);

    // ---- the detector's reading after the run (workers still up), then stop the workers and judge --
    await liveness?.stop();
    if (liveness) {
      await liveness.sample();
      const worst = liveness.longestStarvedNow();
      log(
        `stall detector after the run: ${worst ? `${worst.role} queue ${worst.queue} starved ${Math.round(worst.starvedMs / 1000)} s with ${worst.backlog} task(s)` : 'no queue starved'}; ${liveness.seen.stalledBooks.size} stalled books seen during the run`,
      );
    }
    for (const w of workers) await w.stop();
    const stats = await s.control<SimulatorControlStats>('stats');
    const faulted = Object.entries(stats.faultHits)
      .filter(([name]) => name !== 'revokedCredentials')
      .reduce((n, [, v]) => n + v, 0);
    Object.assign(figures, {
      books: plan.barcodes.length,
      kills: opts.kills,
      profile: singleHost ? 'single-host' : 'full',
      stagesHit: [...stagesHit].join('/') || 'none',
      grinRequests: stats.grinRequests,
      grinFaultPercent: stats.grinRequests ? Number(((100 * faulted) / stats.grinRequests).toFixed(1)) : 0,
      tokenRequests: stats.tokenRequests,
      evictions: stats.library.evictions,
    });
    log(
      `GRIN: ${stats.grinRequests} requests, ${faulted} faulted (${figures.grinFaultPercent}%): ${JSON.stringify(stats.faultHits)}; ${stats.tokenRequests} token requests; ${stats.library.evictions} pool evictions`,
    );
    for (const note of killNotes) log(`kill: ${note}`);

    checks = await runChecks(
      {
        plan,
        board,
        pipelineDir,
        processingDirs: [processing.a],
        deadHostDirs: singleHost ? [] : [processing.b],
        // Every worker process that was kill -9ed (A's earlier lives, B): writes they left half done are theirs.
        killedWorkerPids: [...a.pids.filter((pid) => pid !== a.pid), ...b.pids],
        mustStayEmpty: [workerTmp, workerCwd],
        s3,
        bucket: BUCKET,
        layout: config.storage.layout,
        motoLog: join(logs, 'moto.log'),
        client,
        batch,
        sim: s,
        secrets,
        logFiles: [join(logs, 'worker-a.log'), join(logs, 'worker-b.log'), join(logs, 'simulator.log')],
        scratchDir: scratch,
        liveness: liveness ? { seen: liveness.seen, queueLimitMs: QUEUE_STARVED_LIMIT_MS } : undefined,
      },
      (line) => opts.log(line),
    );
    const faultProblems = [
      ...notFired.map((n) => `not injected (the batch ended or the deadline passed first): ${n}`),
      ...((figures.grinFaultPercent as number) < 20 ? [`GRIN faults hit ${figures.grinFaultPercent}% of requests, below 20%`] : []),
      ...(!singleHost && opts.kills >= FILE_STAGES.length
        ? FILE_STAGES.filter((st) => !stagesHit.has(st)).map((st) => `no kill landed during ${st}`)
        : []),
      ...(singleHost && opts.kills > 0 && !stagesHit.has('download') ? ['no kill landed during a download'] : []),
      ...workers.flatMap((w) => w.unexpectedExits),
    ];
    const faultCheck: ChaosCheck = {
      name: 'every fault injected, no worker crashed by itself',
      ok: faultProblems.length === 0,
      figure: `${faults.length - notFired.length}/${faults.length} faults; kills hit ${figures.stagesHit}; GRIN faults ${figures.grinFaultPercent}% of ${figures.grinRequests}; ${workers.reduce((n, w) => n + w.unexpectedExits.length, 0)} worker crashes`,
      problems: faultProblems,
    };
    opts.log(
      `${faultCheck.ok ? 'PASS' : 'FAIL'}  ${faultCheck.name}: ${faultCheck.figure}${faultProblems.length ? `\n        ${faultProblems.join('\n        ')}` : ''}`,
    );
    checks.push(faultCheck);
  } finally {
    for (const w of workers) await w.stop().catch(() => undefined);
    proxy?.up();
    for (const stop of stops) await stop().catch(() => undefined);
    try {
      unlinkSync(diskUsageFile);
    } catch {
      // not there
    }
    if (!opts.keep) rmSync(root, { recursive: true, force: true });
    void temporal;
    void sim;
  }
  const passed = checks.filter((c) => c.ok).length;
  const summary =
    `chaos: ${passed}/${checks.length} checks passed — ` +
    checks.map((c) => `${c.name.replace(/^(every|each|exactly|no|zero) /, '')}: ${c.figure.split(';')[0]}`).join(' | ') +
    ` | ${figures.profile ?? opts.profile ?? 'full'} profile, ${figures.books} books, ${figures.kills} kills, ${figures.minutes} min${opts.keep ? `; data kept in ${root}` : ''}`;
  return { ok: checks.length > 0 && passed === checks.length, checks, figures, root, summary };
}

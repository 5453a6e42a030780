/**
 * Every file stage is safe to repeat, proven with real crashes: the file stages run in a real worker
 * process (test/support/file-host-worker.ts) that kills itself with SIGKILL right after a chosen side
 * effect (GRIN_PIPELINE_KILL_AT, one kill point per book, each firing once). No catch, finally or
 * exit handler runs, exactly as after `kill -9`. The process is restarted after every death; Temporal
 * notices the lost attempt by its heartbeat timeout and runs it again. The worker runs one file
 * activity at a time, so each kill lands exactly where it is aimed (no book dies elsewhere by chance).
 *
 * Then every book must be in 07_stored (one token each), every object in S3 with the right content,
 * no archive uploaded over an identical stored one, no multipart upload left open, no local file left.
 * Workflows, board and GRIN activities run in this process, against the real Temporal dev server,
 * the GRIN simulator over HTTP and moto S3.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createBoardActivityGroup, createGrinActivities } from '../../src/activities';
import { bookPaths } from '../../src/activities/deps';
import { KILL_POINTS, type KillPoint } from '../../src/activities/kill-points';
import { openDecryptedStream } from '../../src/archive/decrypt';
import { Board } from '../../src/buckets/board';
import { BUCKETS } from '../../src/buckets/token';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import type { RunningSimulator } from '../../devkit/simulator';
import { createStorage, type S3Storage } from '../../src/storage';
import { storageKey } from '../../src/storage/layout';
import { activityInterceptors, buildActivityDeps, hostQueueName, installQuietRuntime } from '../../src/worker';
import { superviseFileHostWorker, type SupervisedWorker } from '../support/child-worker';
import type { UploadLogLine } from '../support/file-host-worker';
import {
  temporalAddress,
  temporalClient,
  testEnv,
  workflowBundle,
  type TestEnv,
  testS3Storage,
  startTestSimulator,
} from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const MiB = 1024 * 1024;
const PAGE_IMAGE_BYTES = 64 * 1024;
const HOST = 'killhost';
/** The point that also has the book's unpacked files removed while the worker is down (see below). */
const LOSES_UNPACKED: KillPoint = 'extract:after-unpack';

let sim: RunningSimulator;
let env: TestEnv;
let storage: S3Storage;
let inProcess: { workers: Worker[]; running: Promise<unknown>; connection: NativeConnection } | undefined;
let fileHost: SupervisedWorker | undefined;

const allPoints = Object.entries(KILL_POINTS).flatMap(([activity, points]) => points.map((p) => `${activity}:${p}` as KillPoint));

beforeAll(async () => {
  // Small archives (1-2 MiB: a download spans a few progress steps) and one over the 16 MiB multipart threshold.
  sim = await startTestSimulator('kill', {
    books: 600,
    seed: 20261129,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 16, max: 290 },
    pageImageBytes: PAGE_IMAGE_BYTES,
  });
  env = testEnv(sim, 'kill', {
    storage: testS3Storage({ bucket: `books-kill-${Date.now()}`, prefix: 'lib/' }),
    // One file activity at a time on the killed worker: each kill interrupts exactly the activity it is aimed at.
    // The download runs on the shared file queue, beside the host queue's activities: one book on the
    // host at a time keeps it from running while another book's stage does (a kill aimed at that stage
    // could otherwise land inside this book's token move, and its own kill point would never be reached).
    concurrency: { fileActivities: 1, booksOnHost: 1 },
  });
  storage = createStorage(env.config.storage) as S3Storage;
  await storage.createBucketIfMissing();
});

afterAll(async () => {
  await fileHost?.stop();
  if (inProcess) {
    for (const w of inProcess.workers) if (w.getState() === 'RUNNING') w.shutdown();
    await inProcess.running;
    await inProcess.connection.close();
  }
  await sim?.close();
  env?.cleanup();
});

/** Workflows, board and GRIN activities here; the child process takes the books (downloads) and runs their file stages. */
async function startInProcessWorkers(): Promise<void> {
  const { config } = env;
  installQuietRuntime('ERROR');
  const deps = await buildActivityDeps(config, hostQueueName(config, HOST));
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  const namespace = config.temporal.namespace;
  const interceptors = activityInterceptors(deps);
  const workers = await Promise.all([
    Worker.create({
      connection,
      namespace,
      interceptors,
      taskQueue: config.temporal.workflowTaskQueue,
      workflowBundle: await workflowBundle(),
      activities: createBoardActivityGroup(deps),
    }),
    Worker.create({
      connection,
      namespace,
      interceptors,
      taskQueue: config.temporal.grinTaskQueue,
      activities: createGrinActivities(deps),
    }),
  ]);
  inProcess = { workers, connection, running: Promise.all(workers.map((w) => w.run())) };
}

function pickBooks(): Map<string, KillPoint[]> {
  const bytes = (b: string) => sim.book(b).pages * PAGE_IMAGE_BYTES;
  const small = sim.barcodes.filter((b) => bytes(b) > 1.1 * MiB && bytes(b) < 2 * MiB);
  const big = sim.barcodes.find((b) => bytes(b) > 17 * MiB);
  const needed = allPoints.length - 1; // upload:after-part goes to the big book; extract:after-unpack shares one
  if (!big || small.length < needed)
    throw new Error(`simulator seed gives ${small.length} small books and ${big ? 'a' : 'no'} big one; pick another seed`);
  const plan = new Map<string, KillPoint[]>([[big, ['upload:after-part']]]);
  let next = 0;
  for (const point of allPoints) {
    if (point === 'upload:after-part' || point === LOSES_UNPACKED) continue;
    plan.set(small[next++], [point]);
  }
  // Stage 05 unpacks again only when stage 04's unpacked files are gone: this book's are removed
  // while the worker is down after its decrypt finished, then it is killed mid-unpack in stage 05.
  plan.set(small[next++], ['decrypt:after-input-removed', LOSES_UNPACKED]);
  return plan;
}

async function md5Of(stream: AsyncIterable<unknown>): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

test('a worker killed right after each side effect of each file stage: every book still ends stored, once, complete', async () => {
  const plan = pickBooks();
  const barcodes = [...plan.keys()];
  const losesUnpacked = barcodes.find((b) => plan.get(b)!.includes(LOSES_UNPACKED))!;
  const markers = join(env.dir, 'kill-markers');
  mkdirSync(markers);
  const uploadLog = join(env.dir, 'uploads.jsonl');
  const marker = (point: KillPoint, barcode: string) => join(markers, `${point.replace(':', '.')}.${barcode}`);
  let unpackedRemoved = false;

  await startInProcessWorkers();
  fileHost = superviseFileHostWorker({
    config: env.config,
    hostId: HOST,
    dir: env.dir,
    env: {
      GRIN_PIPELINE_KILL_AT: barcodes.flatMap((b) => plan.get(b)!.map((p) => `${p}@${b}`)).join(','),
      GRIN_PIPELINE_KILL_ONCE_DIR: markers,
      KILL_TEST_UPLOAD_LOG: uploadLog,
    },
    beforeRestart: () => {
      if (unpackedRemoved || !existsSync(marker('decrypt:after-input-removed', losesUnpacked))) return;
      const paths = bookPaths(env.config.processingDir, losesUnpacked);
      rmSync(paths.unpacked, { force: true });
      rmSync(paths.extracted, { recursive: true, force: true });
      unpackedRemoved = true;
    },
  });

  const client = await temporalClient();
  // A lost attempt is noticed by its heartbeat timeout: short here, so each kill costs seconds.
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 2, heartbeatTimeoutSeconds: 5 });
  const handle = await startBatch(client, env.config, barcodes, { batchId: 'kill-points', window: barcodes.length, settings });
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(
    async () => {
      const parked = (await board.list('failed')).tokens;
      if (parked.length) throw new Error(`parked: ${parked.map((t) => `${t.barcode} (${t.lastError?.message})`).join('; ')}`);
      return (await board.counts())['07_stored'] === barcodes.length;
    },
    PATIENCE_MS,
    'every book in 07_stored',
  );
  expect(await handle.result()).toMatchObject({ total: barcodes.length, stored: barcodes.length, failed: 0 });
  await fileHost.stop();

  // Every kill point fired (each one killed the worker process once).
  const fired = readdirSync(markers).sort();
  const armed = barcodes.flatMap((b) => plan.get(b)!.map((p) => `${p.replace(':', '.')}.${b}`)).sort();
  expect(fired).toEqual(armed);
  expect(fileHost.deaths()).toBeGreaterThanOrEqual(armed.length);
  expect(unpackedRemoved).toBe(true);

  // The board: exactly one token per book, all in 07_stored.
  const counts = await board.counts();
  expect(counts).toEqual(Object.fromEntries(BUCKETS.map((b) => [b, b === '07_stored' ? barcodes.length : 0])));
  expect((await board.listBarcodes('07_stored')).sort()).toEqual([...barcodes].sort());

  // Storage: every object there, the archive byte for byte the decrypted GRIN package.
  const layout = env.config.storage.layout;
  for (const barcode of barcodes) {
    const token = (await board.get(barcode))!;
    const archive = (await sim.archive(barcode))!;
    const stored = await storage.head(storageKey(layout, 'archive', barcode));
    expect({ barcode, size: stored?.size, etag: stored?.metadata.grin_etag }).toEqual({
      barcode,
      size: token.decryptedBytes,
      etag: archive.etag,
    });
    const plain = await openDecryptedStream(archive.path, sim.passphrase);
    const storedMd5 = createHash('md5')
      .update(await storage.getBytes(storageKey(layout, 'archive', barcode)))
      .digest('hex');
    expect({ barcode, md5: storedMd5 }).toEqual({ barcode, md5: await md5Of(plain.stream) });
    for (const kind of ['ocr', 'marc', 'token'] as const) {
      expect({ barcode, kind, stored: !!(await storage.head(storageKey(layout, kind, barcode))) }).toEqual({ barcode, kind, stored: true });
    }
  }

  // No archive was sent again once storage held it; no multipart upload left open.
  const uploads = readFileSync(uploadLog, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as UploadLogLine);
  expect(uploads.filter((u) => u.alreadyStored)).toEqual([]);
  const open = await storage.client.send(new ListMultipartUploadsCommand({ Bucket: (env.config.storage as { bucket: string }).bucket }));
  expect(open.Uploads ?? []).toEqual([]);

  // Nothing left in the processing folder: no partial download, no unpacked files, no temp file.
  expect(readdirSync(env.config.processingDir)).toEqual([]);
});

/**
 * The pipeline on a real Temporal cluster (issue 22), `npm run test:cluster`: PostgreSQL 15, the
 * Temporal server v1.32.2 as four processes (devkit/devtools/cluster.ts), a real S3 server (moto, its
 * bucket versioned so every upload leaves a version), the GRIN simulator over HTTP, and two worker
 * hosts as child processes: each its own host id and processing folder, one board folder.
 * While a batch runs: kill -9 and restart the history service, the matching service and the
 * frontend, then stop PostgreSQL as a crash would (pg_ctl stop -m immediate) and start it again.
 * Then: the batch completes with every book stored, each stored object was uploaded once (one
 * version) and matches its fixity manifest, both hosts did file work, and `reconcile
 * --from-temporal` agrees with the board. Prints the server's CPU and the database's growth per book.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ListObjectVersionsCommand, PutBucketVersioningCommand, type ObjectVersion } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { startTemporalCluster, type ServiceName, type TemporalCluster } from '../../devkit/devtools/cluster';
import { startS3Server, type RunningServer } from '../../devkit/devtools/servers';
import type { RunningSimulator } from '../../devkit/simulator';
import { createStorage } from '../../src/storage';
import type { FixityManifest } from '../../src/storage/fixity';
import type { S3Storage } from '../../src/storage/s3';
import { batchWorkflowId } from '../../src/workflows/contracts';
import { superviseFileHostWorker, type SupervisedWorker } from '../support/child-worker';
import { runCli, writeConfigFile } from '../support/cli';
import { startTestSimulator, testEnv, testS3Storage, workflowBundle, type TestEnv } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const BOOKS = 40;
const CHILD_SCRIPT = resolve(__dirname, '../support/pipeline-worker-child.ts');
const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

let cluster: TemporalCluster;
let s3: RunningServer;
let sim: RunningSimulator;
let env: TestEnv;
const hosts: SupervisedWorker[] = [];

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  [cluster, s3] = await Promise.all([startTemporalCluster({ log }), startS3Server({ log })]);
  process.env.GRIN_TEST_TEMPORAL_ADDRESS = cluster.address;
  process.env.GRIN_TEST_S3_ENDPOINT = s3.address;
  sim = await startTestSimulator('cluster', {
    books: BOOKS,
    seed: 2212,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 2, max: 4 },
    pageImageBytes: 8 * 1024,
  });
});

afterAll(async () => {
  for (const h of hosts) await h.stop();
  await sim?.close();
  await s3?.stop();
  await cluster?.stop();
  env?.cleanup();
});

async function connect(): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address: cluster.address }) });
}

/** Every version of every object in the bucket (the bucket is versioned: one version per upload). */
async function objectVersions(storage: S3Storage, bucket: string): Promise<ObjectVersion[]> {
  const versions: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await storage.client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
    );
    versions.push(...(page.Versions ?? []));
    if (!page.IsTruncated) return versions;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
  }
}

test('a batch on a PostgreSQL-backed cluster with two worker hosts survives killed services and a database restart; every book stored once', async () => {
  const bucket = `books-cluster-${Date.now()}`;
  env = testEnv(sim, 'cluster', {
    storage: testS3Storage({ bucket }),
    concurrency: { fileActivities: 2, booksOnHost: 4 },
  });
  const storage = createStorage(env.config.storage) as S3Storage;
  await storage.createBucketIfMissing();
  await storage.client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));

  // Two worker hosts: their own host ids and processing folders, one board folder.
  const bundle = await workflowBundle();
  for (const host of ['host-a', 'host-b']) {
    const dir = join(env.dir, host);
    mkdirSync(dir, { recursive: true });
    const bundleFile = join(dir, 'workflows.js');
    writeFileSync(bundleFile, bundle.code);
    const config = { ...env.config, processingDir: join(env.dir, `processing-${host}`) };
    hosts.push(superviseFileHostWorker({ config, hostId: host, dir, script: CHILD_SCRIPT, args: [bundleFile] }));
  }

  const dbBefore = (await cluster.postgres.databaseBytes('temporal')) + (await cluster.postgres.databaseBytes('temporal_visibility'));
  const cpuBefore = cluster.cpuSeconds();
  const client = await connect();
  const batchId = 'cluster-chaos';
  await startBatch(client, env.config, sim.barcodes, {
    batchId,
    window: 20,
    settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
  });
  const board = await Board.open(env.config.pipelineDir);
  const stored = async () => (await board.counts())['07_stored'];

  /** Waits for `more` books to be stored beyond those stored now: the pipeline moves on. */
  const progress = async (more: number, after: string) => {
    const from = await stored();
    const target = Math.min(BOOKS, from + more);
    await waitUntil(async () => (await stored()) >= target, PATIENCE_MS, `${target} books stored after ${after}`);
    log(`${await stored()}/${BOOKS} stored after ${after}`);
  };
  const killAndRestart = async (name: ServiceName) => {
    const pid = cluster.services[name].pid();
    await cluster.services[name].kill('SIGKILL');
    log(`killed the ${name} service (pid ${pid}) with SIGKILL`);
    await new Promise((r) => setTimeout(r, 2000));
    await cluster.services[name].start();
    log(`${name} service started again (pid ${cluster.services[name].pid()})`);
  };

  await progress(3, 'the start');
  await killAndRestart('history');
  await progress(3, 'the history service was killed');
  await killAndRestart('matching');
  await progress(3, 'the matching service was killed');
  await killAndRestart('frontend');
  await progress(3, 'the frontend was killed');
  await cluster.postgres.stop('immediate');
  log('PostgreSQL stopped as by a crash (pg_ctl stop -m immediate)');
  await new Promise((r) => setTimeout(r, 3000));
  await cluster.postgres.start();
  log('PostgreSQL started again');
  await progress(3, 'PostgreSQL was restarted');

  // The batch completes (asked again through a new connection: the frontend it started with was killed).
  let summary: unknown;
  await waitUntil(
    async () => {
      try {
        summary = await (await connect()).workflow.getHandle(batchWorkflowId(env.config.grin.directory, batchId)).result();
        return true;
      } catch (err) {
        log(`batch result not yet readable: ${(err as Error).message}`);
        return false;
      }
    },
    PATIENCE_MS,
    'the batch result',
  );
  expect(summary).toMatchObject({ stored: BOOKS, failed: 0, cancelled: 0 });
  expect(await board.counts()).toMatchObject({
    '07_stored': BOOKS,
    failed: 0,
    cancelled: 0,
    '00_available': 0,
    '01_requested': 0,
    '02_converted': 0,
  });

  // Both hosts did file work: each took some books (the token names the host queue of its file stages).
  const fileQueues = new Set<string>();
  for (const barcode of sim.barcodes) fileQueues.add((await board.get(barcode))!.fileQueue ?? '');
  expect([...fileQueues].sort()).toEqual([
    `${env.config.temporal.fileTaskQueuePrefix}-host-a`,
    `${env.config.temporal.fileTaskQueuePrefix}-host-b`,
  ]);

  // Stored exactly once: one version of each object (a second upload would add one), each book's
  // objects are its manifest's, and their bytes have the manifest's digests.
  const versions = await objectVersions(storage, bucket);
  const perKey = new Map<string, number>();
  for (const v of versions) perKey.set(v.Key!, (perKey.get(v.Key!) ?? 0) + 1);
  expect([...perKey].filter(([, n]) => n !== 1)).toEqual([]);
  const manifestKeys = [...perKey.keys()].filter((k) => k.endsWith('.manifest.json'));
  expect(manifestKeys).toHaveLength(BOOKS);
  const listed = new Set<string>(manifestKeys);
  for (const barcode of sim.barcodes) {
    const manifest = JSON.parse((await storage.getBytes(`meta/${barcode}/${barcode}.manifest.json`)).toString()) as FixityManifest;
    for (const entry of manifest.objects) {
      listed.add(entry.key);
      const bytes = await storage.getBytes(entry.key);
      expect({ key: entry.key, sha256: createHash('sha256').update(bytes).digest('hex') }).toEqual({
        key: entry.key,
        sha256: entry.sha256,
      });
    }
    expect((await board.get(barcode))!.fixity?.archiveSha256).toBe(manifest.objects.find((o) => o.key.endsWith('.tar.gz'))?.sha256);
  }
  // Nothing stored beside the manifests' objects, but the batch's report (written once the batch ends).
  const reports = [...perKey.keys()].filter((k) => k.startsWith(`meta/reports/batch-${batchId}-`));
  expect(reports.map((k) => k.replace(/^.*\./, '')).sort()).toEqual(['csv', 'json', 'txt']);
  expect([...perKey.keys()].filter((k) => !reports.includes(k)).sort()).toEqual([...listed].sort());

  // Temporal's view (SQL visibility: the search attributes) agrees with the board.
  const configFile = writeConfigFile(env.dir, env.config);
  const reconcile = await runCli(['-c', configFile, 'reconcile', '--from-temporal', '--dry-run', '--json']);
  expect(reconcile.error).toBeUndefined();
  expect(reconcile.exitCode).toBe(0);
  const report = JSON.parse(reconcile.stdout) as {
    fromTemporal: {
      known: number;
      agreed: number;
      rebuilt: string[];
      moved: string[];
      disagreements: string[];
      stranded: unknown[];
      unreadable: string[];
    };
  };
  expect(report.fromTemporal).toMatchObject({
    known: BOOKS,
    agreed: BOOKS,
    rebuilt: [],
    moved: [],
    disagreements: [],
    stranded: [],
    unreadable: [],
  });

  // Figures (docs/benchmarks.md takes them from bench/cluster-cost.ts, without the kills).
  const dbAfter = (await cluster.postgres.databaseBytes('temporal')) + (await cluster.postgres.databaseBytes('temporal_visibility'));
  const cpu = cluster.cpuSeconds() - cpuBefore;
  log(`server CPU (four services, kills included): ${cpu.toFixed(1)} s for ${BOOKS} books = ${(cpu / BOOKS).toFixed(2)} s/book`);
  log(
    `PostgreSQL (temporal + temporal_visibility) grew ${((dbAfter - dbBefore) / 1024).toFixed(0)} KiB = ${((dbAfter - dbBefore) / BOOKS / 1024).toFixed(1)} KiB/book`,
  );
});

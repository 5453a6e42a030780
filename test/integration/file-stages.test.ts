/**
 * The file-stage activities (download, upload, clean-up) run for real — real GRIN simulator over HTTP,
 * real S3 server (moto), real board and processing folders — inside Temporal's MockActivityEnvironment.
 * A "retry after a worker crash" is simulated as Temporal does it: attempt 1 is cut off, and attempt 2
 * runs in a fresh environment that gets attempt 1's last heartbeat details (JSON round-tripped).
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  utimesSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Info } from '@temporalio/activity';
import { ActivityCancellationDetails, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createFileActivities, type ActivityDeps } from '../../src/activities';
import { createDownloadActivity } from '../../src/activities/download';
import { TEST_PATIENCE_MS } from '../support/wait';
import { bookPaths } from '../../src/activities/deps';
import type { Bucket } from '../../src/buckets/token';
import type { BookToken } from '../../src/buckets/token';
import { startSimulator, type RunningSimulator } from '../../devkit/simulator';
import { createStorage } from '../../src/storage';
import { S3StorageError, type S3Storage } from '../../src/storage/s3';
import type { BookStorage, UploadCheckpoint } from '../../src/storage/types';
import { digestFile, type FixityManifest } from '../../src/storage/fixity';
import { reportRow } from '../../src/report/build';
import { activityInterceptors, buildActivityDeps } from '../../src/worker';
import { testEnv, type TestEnv, testS3Storage } from '../support/pipeline';

// Generous: a busy machine may take many times longer than an idle one; the tests wait for events.
jest.setTimeout(TEST_PATIENCE_MS);

const MiB = 1024 * 1024;
/** The GRIN client reports progress (and so the activity heartbeats) every 1 MiB. */
const HEARTBEAT_BYTES = MiB;
const notFull = async () => 0.1;
/** Failed attempts are the point of most tests here; the SDK's warning about each is noise. */
const quietLogger = new DefaultLogger('ERROR');

// ---------------------------------------------------------------------------------------------
// Helpers

interface Run<R> {
  result?: R;
  error?: unknown;
  /** Heartbeat details as Temporal would store them (JSON round trip). */
  beats: unknown[];
}

/**
 * Runs one activity attempt. `onHeartbeat` may cancel the environment (the attempt is then cut off,
 * like a worker that stopped).
 */
/** The board of the describe block running (each builds its own deps), for the failure interceptor. */
let waitsBoard: ActivityDeps['board'];

async function attempt<A, R>(
  fn: (input: A) => Promise<R>,
  input: A,
  opts: { info?: Partial<Info>; onHeartbeat?: (details: unknown, env: MockActivityEnvironment) => void } = {},
): Promise<Run<R>> {
  // As the workers run them: through the failure interceptor (errors converted, waits on the token).
  const env = new MockActivityEnvironment(
    { activityType: fn.name, ...opts.info },
    { logger: quietLogger, interceptors: activityInterceptors({ board: waitsBoard }).activity },
  );
  const beats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => {
    beats.push(JSON.parse(JSON.stringify(details ?? null)));
    opts.onHeartbeat?.(details, env);
  });
  try {
    return { result: await env.run(fn, input), beats };
  } catch (error) {
    return { error, beats };
  }
}

/** Cancels like a worker whose heartbeats stopped reaching the server (a later attempt continues). */
function cutOff(env: MockActivityEnvironment): void {
  env.cancel('TIMED_OUT', new ActivityCancellationDetails({ timedOut: true }));
}

/** Cancels like an operator's `cancel` of the book (nobody will continue this attempt's work). */
function operatorCancel(env: MockActivityEnvironment): void {
  env.cancel('CANCELLED', new ActivityCancellationDetails({ cancelRequested: true }));
}

function archiveGets(sim: RunningSimulator, barcode: string) {
  return sim.requestLog.filter((e) => e.method === 'GET' && e.barcode === barcode && e.path.endsWith('.tar.gz.gpg'));
}

async function md5OfFile(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function fileSize(path: string): number {
  return statSync(path).size;
}

async function placeToken(deps: ActivityDeps, barcode: string, bucket: Bucket, patch: Partial<BookToken> = {}): Promise<void> {
  await deps.board.move(barcode, bucket, { directory: deps.config.grin.directory, processingDir: deps.config.processingDir, ...patch });
}

function lastHeartbeat(run: Run<unknown>): unknown {
  expect(run.beats.length).toBeGreaterThan(0);
  return run.beats[run.beats.length - 1];
}

// ---------------------------------------------------------------------------------------------
// Download

describe('download', () => {
  const A = 'RESUME01'; // cut off by a "worker crash" mid-download
  const B = 'CUTBODY01'; // connection cut once by GRIN
  const C = 'DISKWAIT01'; // disk full before the download
  const D = 'DISKMID01'; // disk fills up during the download
  const G = 'NEWRUN01'; // partial file left by an earlier workflow run
  const H = 'FINISHED01'; // file finished but not recorded
  const I = 'POOLED01'; // downloaded first, opening a keep-alive connection ...
  const J = 'POOLED02'; // ... which this download then reuses
  let sim: RunningSimulator;
  let env: TestEnv;
  let deps: ActivityDeps;

  beforeAll(async () => {
    sim = await startSimulator({
      barcodes: [A, B, C, D, G, H, I, J],
      initialStates: Object.fromEntries([A, B, C, D, G, H, I, J].map((b) => [b, 'CONVERTED' as const])),
      pages: { min: 8, max: 8 },
      pageImageBytes: 512 * 1024, // archives of about 4 MiB
      archiveConcurrency: 2,
    });
    env = testEnv(sim, 'file-dl');
    deps = await buildActivityDeps(env.config, 'host-q');
    waitsBoard = deps.board;
    await Promise.all([A, B, C, D, G, H, I, J].map((b) => placeToken(deps, b, '02_converted', { grinFilename: sim.book(b).filename })));
    await Promise.all([A, B, C, D, G, H, I, J].map((b) => sim.archive(b))); // generate the packages up front
  });

  afterAll(async () => {
    await sim?.close();
    env?.cleanup();
  });

  test('a retry after a worker crash continues from the bytes on disk with a Range request', async () => {
    const archive = (await sim.archive(A))!;
    expect(archive.size).toBeGreaterThan(3 * MiB);
    sim.setFaults({ slowBody: { barcodes: [A], times: 1 }, slowBodyBytesPerSecond: 3 * MiB });
    const { downloadArchive } = createFileActivities(deps, { download: { diskUsage: notFull } });
    const input = { barcode: A, filename: sim.book(A).filename };

    const first = await attempt(downloadArchive, input, {
      onHeartbeat: (d, e) => (d as { bytes: number }).bytes >= 2 * MiB && cutOff(e),
    });
    expect(first.error).toBeDefined();
    const paths = bookPaths(env.config.processingDir, A);
    const onDisk = fileSize(paths.partial);
    expect(onDisk).toBeGreaterThanOrEqual(2 * MiB);
    expect(onDisk).toBeLessThan(archive.size);
    const details = lastHeartbeat(first) as { bytes: number; etag: string };
    expect(details.etag).toBe(archive.etag);

    const second = await attempt(downloadArchive, input, { info: { attempt: 2, heartbeatDetails: details } });
    expect(second.error).toBeUndefined();
    expect(second.result).toMatchObject({ etag: archive.etag, bytes: archive.size, resumed: true });

    const gets = archiveGets(sim, A);
    expect(gets).toHaveLength(2);
    expect(gets[0].range).toBeUndefined();
    expect(gets[1]).toMatchObject({ range: `bytes=${onDisk}-`, status: 206, bytesSent: archive.size - onDisk });
    // Nothing is fetched twice beyond what the crash lost since the last heartbeat.
    const sent = gets.reduce((n, g) => n + g.bytesSent, 0);
    expect(sent).toBeGreaterThanOrEqual(archive.size);
    expect(sent - archive.size).toBeLessThanOrEqual(HEARTBEAT_BYTES);

    expect(existsSync(paths.partial)).toBe(false);
    expect(await md5OfFile(paths.encrypted)).toBe(archive.etag);
    const token = await deps.board.get(A);
    expect(token).toMatchObject({
      bucket: '03_downloaded',
      grinEtag: archive.etag,
      encryptedBytes: archive.size,
      status: 'downloaded (resumed)',
    });
  });

  test('progress heartbeats reach the activity that is downloading, also over a connection another activity opened', async () => {
    const { downloadArchive } = createFileActivities(deps, { download: { diskUsage: notFull } });
    const earlier = new MockActivityEnvironment(undefined, { logger: quietLogger });
    const strayBeats: unknown[] = [];
    await earlier.run(downloadArchive, { barcode: I, filename: sim.book(I).filename });
    earlier.on('heartbeat', (d: unknown) => strayBeats.push(d));
    // A body that trickles in, as over a real link: each chunk is then delivered from the socket.
    sim.setFaults({ slowBody: { barcodes: [J], times: 1 }, slowBodyBytesPerSecond: 8 * MiB });

    const run = await attempt(downloadArchive, { barcode: J, filename: sim.book(J).filename });
    expect(run.error).toBeUndefined();
    const size = (await sim.archive(J))!.size;
    // One beat per MiB received, each reporting the bytes already on disk (never more), then the total.
    // (The keep-alive beat every 10 s repeats the last one; on a busy machine it may come in between.)
    const beats = run.beats.map((b) => (b as { bytes: number }).bytes).filter((bytes, i, all) => i === 0 || bytes !== all[i - 1]);
    expect(beats).toHaveLength(Math.floor(size / MiB) + 1);
    beats.slice(0, -1).forEach((bytes, i) => {
      expect(bytes).toBeLessThanOrEqual((i + 1) * MiB);
      expect(bytes).toBeGreaterThan(i * MiB);
    });
    expect(beats[beats.length - 1]).toBe(size);
    expect(strayBeats).toEqual([]);
  });

  test('a connection cut by GRIN is continued with a Range request within the attempt', async () => {
    const archive = (await sim.archive(B))!;
    sim.setFaults({ truncateBody: { barcodes: [B], times: 1 }, truncateBodyFraction: 0.4 });
    const { downloadArchive } = createFileActivities(deps, { download: { diskUsage: notFull } });
    const run = await attempt(downloadArchive, { barcode: B, filename: sim.book(B).filename });
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ etag: archive.etag, bytes: archive.size, resumed: true });
    const gets = archiveGets(sim, B);
    expect(gets).toHaveLength(2);
    expect(gets[0]).toMatchObject({ bytesSent: Math.floor(archive.size * 0.4), fault: 'truncateBody' });
    expect(gets[0].range).toBeUndefined();
    // The retry asks for what reached the disk (the cut may lose what was still in flight) ...
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(gets[0].bytesSent);
    expect(gets[1]).toMatchObject({ status: 206, bytesSent: archive.size - resumedFrom });
    // ... so the total sent stays within one heartbeat interval of the archive size.
    expect(gets[0].bytesSent + gets[1].bytesSent - archive.size).toBeLessThanOrEqual(HEARTBEAT_BYTES);
    expect(await md5OfFile(bookPaths(env.config.processingDir, B).encrypted)).toBe(archive.etag);
  });

  test('with the disk too full the attempt fails at once as transient (holding no file slot), says so in the token, and a later one downloads', async () => {
    let full = true;
    const diskUsage = async () => (full ? 0.95 : 0.5);
    // As the worker registers it: a wait's reason reaches the token through activities/waiting.ts.
    const { downloadArchive } = createDownloadActivity(deps, { diskUsage, diskRetrySeconds: 1 });
    const input = { barcode: C, filename: sim.book(C).filename };

    const refused = await attempt(downloadArchive, input);
    expect(refused.error).toBeInstanceOf(ApplicationFailure);
    expect(refused.error).toMatchObject({ type: 'DiskFullError', nonRetryable: false });
    expect((refused.error as Error).message).toMatch(/95\.0% full, over the 90% threshold/);
    const waiting = await deps.board.get(C);
    expect(waiting?.status).toMatch(/^waiting for disk space on .* \(usage 95\.0% over threshold 90%\) since .* \(attempt 1\): /);
    expect(waiting?.bucket).toBe('02_converted');
    expect(archiveGets(sim, C)).toHaveLength(0); // nothing fetched while the disk is full

    full = false;
    const run = await attempt(downloadArchive, input, { info: { attempt: 2 } });
    expect(run.error).toBeUndefined();
    const archive = (await sim.archive(C))!;
    expect(await deps.board.get(C)).toMatchObject({
      bucket: '03_downloaded',
      grinEtag: archive.etag,
      encryptedBytes: archive.size,
      status: 'downloaded',
    });
    expect(archiveGets(sim, C)).toHaveLength(1);
  });

  test('when the disk fills up mid-download the transfer stops, keeps its partial file and fails; the next attempt continues with a Range request', async () => {
    const archive = (await sim.archive(D))!;
    sim.setFaults({ slowBody: { barcodes: [D], times: 1 }, slowBodyBytesPerSecond: 3 * MiB });
    // 1st check (before the transfer): room; 2nd (after 1 MiB): full; then room again.
    const answers = [0.5, 0.95];
    const diskUsage = async () => answers.shift() ?? 0.5;
    const { downloadArchive } = createDownloadActivity(deps, { diskUsage, diskRetrySeconds: 1, diskCheckBytes: MiB });
    const input = { barcode: D, filename: sim.book(D).filename };
    const first = await attempt(downloadArchive, input);
    expect(first.error).toMatchObject({ type: 'DiskFullError', nonRetryable: false });
    const paths = bookPaths(env.config.processingDir, D);
    const kept = fileSize(paths.partial);
    expect(kept).toBeGreaterThanOrEqual(MiB);
    expect(kept).toBeLessThan(archive.size);
    expect(await deps.board.get(D)).toMatchObject({
      bucket: '02_converted',
      grinEtag: archive.etag,
      status: expect.stringMatching(/^waiting for disk space/),
    });

    const second = await attempt(downloadArchive, input, { info: { attempt: 2, heartbeatDetails: lastHeartbeat(first) } });
    expect(second.error).toBeUndefined();
    const gets = archiveGets(sim, D);
    expect(gets).toHaveLength(2);
    expect(gets[0].aborted).toBe(true);
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    expect(resumedFrom).toBeGreaterThanOrEqual(MiB);
    expect(gets[1]).toMatchObject({ status: 206, bytesSent: archive.size - resumedFrom });
    expect(gets[0].bytesSent + gets[1].bytesSent - archive.size).toBeLessThanOrEqual(HEARTBEAT_BYTES);
    expect(await md5OfFile(paths.encrypted)).toBe(archive.etag);
    expect(await deps.board.get(D)).toMatchObject({
      bucket: '03_downloaded',
      grinEtag: archive.etag,
      encryptedBytes: archive.size,
      status: 'downloaded (resumed)',
    });
  });
  test('a new workflow run (no heartbeat details) continues a partial file with the ETag recorded in the token', async () => {
    const archive = (await sim.archive(G))!;
    sim.setFaults({ slowBody: { barcodes: [G], times: 1 }, slowBodyBytesPerSecond: 3 * MiB });
    const { downloadArchive } = createFileActivities(deps, { download: { diskUsage: notFull } });
    const input = { barcode: G, filename: sim.book(G).filename };
    const first = await attempt(downloadArchive, input, { onHeartbeat: (d, e) => (d as { bytes: number }).bytes >= 2 * MiB && cutOff(e) });
    expect(first.error).toBeDefined();
    expect((await deps.board.get(G))?.grinEtag).toBe(archive.etag);
    const onDisk = fileSize(bookPaths(env.config.processingDir, G).partial);

    const again = await attempt(downloadArchive, input); // a fresh activity: no heartbeat details
    expect(again.error).toBeUndefined();
    expect(again.result).toMatchObject({ etag: archive.etag, resumed: true });
    const gets = archiveGets(sim, G);
    expect(gets[gets.length - 1]).toMatchObject({ range: `bytes=${onDisk}-`, status: 206, bytesSent: archive.size - onDisk });
    expect(await md5OfFile(bookPaths(env.config.processingDir, G).encrypted)).toBe(archive.etag);
  });

  test('a retry after the file was finished but not recorded confirms it without downloading it again', async () => {
    const archive = (await sim.archive(H))!;
    const { downloadArchive } = createFileActivities(deps, { download: { diskUsage: notFull } });
    const input = { barcode: H, filename: sim.book(H).filename };
    const first = await attempt(downloadArchive, input);
    expect(first.error).toBeUndefined();
    // As if the worker died just before recording the download on the board.
    await deps.board.move(H, '02_converted', { status: 'downloading' });
    const details = lastHeartbeat(first);

    const retry = await attempt(downloadArchive, input, { info: { attempt: 2, heartbeatDetails: details } });
    expect(retry.error).toBeUndefined();
    expect(retry.result).toMatchObject({ etag: archive.etag, bytes: archive.size });
    const gets = archiveGets(sim, H);
    expect(gets).toHaveLength(2);
    expect(gets[1]).toMatchObject({ range: `bytes=${archive.size}-`, status: 416, bytesSent: 0 });
    expect(await md5OfFile(bookPaths(env.config.processingDir, H).encrypted)).toBe(archive.etag);
    expect((await deps.board.get(H))?.bucket).toBe('03_downloaded');

    // A new workflow run (no heartbeat details) confirms it the same way, with the ETag the token recorded.
    await deps.board.move(H, '02_converted', { status: 'downloading' });
    const newRun = await attempt(downloadArchive, input);
    expect(newRun.error).toBeUndefined();
    expect(archiveGets(sim, H)[2]).toMatchObject({ range: `bytes=${archive.size}-`, status: 416, bytesSent: 0 });

    // Once the token moved, a re-run finds the stage done and asks GRIN nothing.
    const again = await attempt(downloadArchive, input, { info: { attempt: 2, heartbeatDetails: details } });
    expect(again.result).toMatchObject({ etag: archive.etag, bytes: archive.size });
    expect(archiveGets(sim, H)).toHaveLength(3);

    // `fresh` (a download again after an integrity failure) trusts nothing on disk: fetched again.
    const fresh = await attempt(downloadArchive, { ...input, fresh: true });
    expect(fresh.error).toBeUndefined();
    const refetch = archiveGets(sim, H)[3];
    expect(refetch.range).toBeUndefined();
    expect(refetch).toMatchObject({ status: 200, bytesSent: archive.size });
    expect((await deps.board.get(H))?.bucket).toBe('03_downloaded');
  });
});

describe('download when GRIN re-converted the book between attempts', () => {
  const E = 'RECONV01';
  const F = 'OTHER0001';
  let sim: RunningSimulator;
  let env: TestEnv;
  let deps: ActivityDeps;

  beforeAll(async () => {
    // A pool of one: converting F evicts E, converting E again gives it a new package and ETag.
    sim = await startSimulator({
      barcodes: [E, F],
      initialStates: { [E]: 'CONVERTED', [F]: 'NEW' },
      poolCap: 1,
      conversionDelaySeconds: 1,
      pages: { min: 6, max: 6 },
      pageImageBytes: 512 * 1024,
    });
    env = testEnv(sim, 'file-etag');
    deps = await buildActivityDeps(env.config, 'host-q');
    waitsBoard = deps.board;
    await placeToken(deps, E, '02_converted', { grinFilename: sim.book(E).filename });
  });

  afterAll(async () => {
    await sim?.close();
    env?.cleanup();
  });

  test('the retry starts over and keeps the new archive', async () => {
    const old = (await sim.archive(E))!;
    sim.setFaults({ slowBody: { barcodes: [E], times: 1 }, slowBodyBytesPerSecond: 3 * MiB });
    const { downloadArchive } = createFileActivities(deps, { download: { diskUsage: notFull } });
    const input = { barcode: E, filename: sim.book(E).filename };
    const first = await attempt(downloadArchive, input, { onHeartbeat: (d, e) => (d as { bytes: number }).bytes >= MiB && cutOff(e) });
    expect(first.error).toBeDefined();
    const details = lastHeartbeat(first) as { etag: string };
    expect(details.etag).toBe(old.etag);
    expect(fileSize(bookPaths(env.config.processingDir, E).partial)).toBeGreaterThan(0);

    await deps.grin.requestConversion([F]);
    sim.advance(5);
    expect(sim.book(E).inPool).toBe(false);
    await deps.grin.requestConversion([E]);
    sim.advance(5);
    const fresh = (await sim.archive(E))!;
    expect(fresh.conversion).toBe(old.conversion + 1);
    expect(fresh.etag).not.toBe(old.etag);

    // Measured now: writes already under way when the first attempt was cut may still have landed.
    const onDisk = fileSize(bookPaths(env.config.processingDir, E).partial);
    const second = await attempt(downloadArchive, input, { info: { attempt: 2, heartbeatDetails: details } });
    expect(second.error).toBeUndefined();
    expect(second.result).toMatchObject({ etag: fresh.etag, bytes: fresh.size, resumed: false });
    const gets = archiveGets(sim, E);
    // Asked for the rest of the old package (If-Range), got the whole new one.
    expect(gets[gets.length - 1]).toMatchObject({ range: `bytes=${onDisk}-`, status: 200, bytesSent: fresh.size });
    const encrypted = bookPaths(env.config.processingDir, E).encrypted;
    expect(fileSize(encrypted)).toBe(fresh.size);
    expect(await md5OfFile(encrypted)).toBe(fresh.etag);
    expect(await deps.board.get(E)).toMatchObject({
      bucket: '03_downloaded',
      grinEtag: fresh.etag,
      encryptedBytes: fresh.size,
      status: 'downloaded',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Upload and clean-up

describe('upload to S3 and clean-up', () => {
  const U = 'UPLOAD01';
  const BIG = 40 * 1000 * 1000; // 5 parts of 8 MiB
  const PARTS = 5;
  let sim: RunningSimulator;
  let env: TestEnv;
  let deps: ActivityDeps;
  let storage: S3Storage;
  /** Archive-changing requests that reached S3, as `<command> <key>`. */
  const wire: string[] = [];

  /** A book in 06_processed with a decrypted archive of `bytes` random bytes and its derivatives. */
  async function processedBook(barcode: string, bytes: number, etag = `etag-${barcode}`): Promise<string> {
    const paths = bookPaths(env.config.processingDir, barcode);
    mkdirSync(paths.derivatives, { recursive: true });
    const hash = createHash('md5');
    const fd = openSync(paths.decrypted, 'w');
    for (let written = 0; written < bytes;) {
      const chunk = randomBytes(Math.min(4 * MiB, bytes - written));
      writeSync(fd, chunk);
      hash.update(chunk);
      written += chunk.length;
    }
    closeSync(fd);
    writeFileSync(join(paths.derivatives, `${barcode}_ocr.jsonl.gz`), randomBytes(2000));
    writeFileSync(join(paths.derivatives, `${barcode}_marc.json`), '{"title":"A book"}');
    writeFileSync(paths.encrypted, randomBytes(1000));
    mkdirSync(paths.extracted, { recursive: true });
    writeFileSync(join(paths.extracted, '00000001.txt'), 'page one');
    await placeToken(deps, barcode, '06_processed', { grinEtag: etag, grinFilename: `${barcode}.tar.gz.gpg`, pageCount: 1 });
    return hash.digest('hex');
  }

  async function storedMd5(key: string): Promise<string> {
    const out = await storage.client.send(new GetObjectCommand({ Bucket: bucketName(), Key: storage.fullKey(key) }));
    const hash = createHash('md5');
    for await (const chunk of out.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  function bucketName(): string {
    return (env.config.storage as { bucket: string }).bucket;
  }

  async function pendingUploads(key: string): Promise<string[]> {
    const out = await storage.client.send(new ListMultipartUploadsCommand({ Bucket: bucketName(), Prefix: storage.fullKey(key) }));
    return (out.Uploads ?? []).filter((u) => u.Key === storage.fullKey(key)).map((u) => u.UploadId!);
  }

  function archiveKey(barcode: string): string {
    return `raw/${barcode}/${barcode}.tar.gz`;
  }

  function archiveWrites(barcode: string): string[] {
    return wire.filter((w) => w.endsWith(` ${storage.fullKey(archiveKey(barcode))}`));
  }

  beforeAll(async () => {
    sim = await startSimulator({ barcodes: ['UNUSED01'] }); // the config needs a GRIN; uploads never call it
    env = testEnv(sim, 'file-up', {
      storage: testS3Storage({ bucket: `books-files-${Date.now()}`, prefix: 'lib/' }),
      concurrency: { uploadParts: 2 },
    });
    storage = createStorage(env.config.storage, { partsInFlight: env.config.concurrency.uploadParts }) as S3Storage;
    await storage.createBucketIfMissing();
    for (const client of [storage.client, storage.transferClient]) {
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const name = context.commandName ?? '';
          if (/^(PutObject|UploadPart|CreateMultipartUpload|CompleteMultipartUpload)Command$/.test(name)) {
            wire.push(`${name.replace(/Command$/, '')} ${(args.input as { Key?: string }).Key}`);
          }
          return next(args);
        },
        { step: 'initialize', name: 'recordArchiveWrites' },
      );
    }
    deps = await buildActivityDeps(env.config, 'host-q', { storage });
    waitsBoard = deps.board;
  });

  afterAll(async () => {
    await sim?.close();
    env?.cleanup();
  });

  test('an interrupted multipart upload is continued: only the missing parts are sent', async () => {
    const md5 = await processedBook(U, BIG);
    const { uploadBook } = createFileActivities(deps);

    const first = await attempt(
      uploadBook,
      { barcode: U },
      {
        onHeartbeat: (d, e) => ((d as { checkpoint?: UploadCheckpoint }).checkpoint?.parts.length ?? 0) >= 2 && cutOff(e),
      },
    );
    expect(first.error).toBeDefined();
    const details = lastHeartbeat(first) as { checkpoint: UploadCheckpoint };
    const { uploadId } = details.checkpoint;
    expect(details.checkpoint.parts.length).toBeGreaterThanOrEqual(2);
    // The interrupted upload is kept for the retry, not aborted.
    expect(await pendingUploads(archiveKey(U))).toEqual([uploadId]);
    const listed = await storage.client.send(
      new ListPartsCommand({ Bucket: bucketName(), Key: storage.fullKey(archiveKey(U)), UploadId: uploadId }),
    );
    const onServer = (listed.Parts ?? []).length;
    expect(onServer).toBeGreaterThanOrEqual(2);
    expect(onServer).toBeLessThan(PARTS);

    const before = archiveWrites(U).length;
    const second = await attempt(uploadBook, { barcode: U }, { info: { attempt: 2, heartbeatDetails: details } });
    expect(second.error).toBeUndefined();
    expect(second.result).toEqual({
      keys: expect.objectContaining({ archive: archiveKey(U) }),
      archiveSkipped: false,
      bytes: expect.any(Number),
    });
    const sent = archiveWrites(U).slice(before);
    const resumed = (second.beats[0] as { checkpoint: UploadCheckpoint }).checkpoint;
    expect(resumed.uploadId).toBe(uploadId);
    // A part whose request was cut off after its body was sent may still land on the server after
    // the listing above: the retry finds at least those parts, and sends exactly the ones it lacks.
    expect(resumed.parts.length).toBeGreaterThanOrEqual(onServer);
    expect(resumed.parts.length).toBeLessThan(PARTS);
    expect(sent.filter((w) => w.startsWith('UploadPart '))).toHaveLength(PARTS - resumed.parts.length);
    expect(sent.filter((w) => w.startsWith('CreateMultipartUpload '))).toHaveLength(0);
    // The bytes it reports sent (metrics) are the missing parts plus the small derivatives, not the whole archive again.
    const missing = BIG - resumed.parts.reduce((n, p) => n + p.size, 0);
    expect(second.result!.bytes! - missing).toBeGreaterThan(0);
    expect(second.result!.bytes! - missing).toBeLessThan(1024 * 1024);

    expect(await storedMd5(archiveKey(U))).toBe(md5);
    expect(await storage.head(archiveKey(U))).toEqual({
      size: BIG,
      metadata: expect.objectContaining({ barcode: U, grin_etag: `etag-${U}`, original_filename: `${U}.tar.gz.gpg` }),
    });
    expect(await pendingUploads(archiveKey(U))).toEqual([]);
    const token = await deps.board.get(U);
    expect(token?.stored).toMatchObject({ archive: archiveKey(U), ocr: `full/${U}/${U}_ocr.jsonl.gz`, marc: `meta/${U}/${U}_marc.json` });
    expect(JSON.parse((await storage.getBytes(`meta/${U}/${U}.token.json`)).toString())).toMatchObject({
      barcode: U,
      grinEtag: `etag-${U}`,
    });
  });

  test('a re-run does not upload a stored archive with the same ETag again; force does', async () => {
    const { uploadBook } = createFileActivities(deps);
    const head = () => storage.client.send(new HeadObjectCommand({ Bucket: bucketName(), Key: storage.fullKey(archiveKey(U)) }));
    const before = await head();
    const writesBefore = archiveWrites(U).length;

    const rerun = await attempt(uploadBook, { barcode: U });
    expect(rerun.error).toBeUndefined();
    expect(rerun.result?.archiveSkipped).toBe(true);
    expect(archiveWrites(U).slice(writesBefore)).toEqual([]);
    const after = await head();
    expect(after.ETag).toBe(before.ETag);
    expect(after.LastModified).toEqual(before.LastModified);
    expect((await deps.board.get(U))?.status).toBe('uploaded; storage already held this archive (same SHA-256)');

    const forced = await attempt(uploadBook, { barcode: U, force: true });
    expect(forced.error).toBeUndefined();
    expect(forced.result?.archiveSkipped).toBe(false);
    const sent = archiveWrites(U).slice(writesBefore);
    expect(sent.filter((w) => w.startsWith('CreateMultipartUpload '))).toHaveLength(1);
    expect(sent.filter((w) => w.startsWith('UploadPart '))).toHaveLength(PARTS);
  });

  test('an archive stored under the same ETag but with another size is uploaded again', async () => {
    const barcode = 'UPSIZE01';
    await processedBook(barcode, 3 * MiB, 'etag-same');
    const { uploadBook } = createFileActivities(deps);
    expect((await attempt(uploadBook, { barcode })).result?.archiveSkipped).toBe(false);
    const md5 = await processedBook(barcode, 2 * MiB, 'etag-same'); // e.g. a truncated earlier copy
    const rerun = await attempt(uploadBook, { barcode });
    expect(rerun.result?.archiveSkipped).toBe(false);
    expect(await storedMd5(archiveKey(barcode))).toBe(md5);
  });

  test('an archive stored with the same ETag and size but other bytes is uploaded again, never skipped', async () => {
    const barcode = 'UPFLIP01';
    const md5 = await processedBook(barcode, 3 * MiB);
    const { uploadBook } = createFileActivities(deps);
    expect((await attempt(uploadBook, { barcode })).error).toBeUndefined();
    // One byte flipped at rest, metadata and size unchanged (what a store that damaged a PUT leaves).
    const key = storage.fullKey(archiveKey(barcode));
    const got = await storage.client.send(new GetObjectCommand({ Bucket: bucketName(), Key: key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    bytes[1000] ^= 0x01;
    await storage.client.send(new PutObjectCommand({ Bucket: bucketName(), Key: key, Body: bytes, Metadata: got.Metadata }));
    expect((await storage.head(archiveKey(barcode)))?.metadata.grin_etag).toBe(`etag-${barcode}`);

    const rerun = await attempt(uploadBook, { barcode });
    expect(rerun.error).toBeUndefined();
    expect(rerun.result?.archiveSkipped).toBe(false);
    expect(await storedMd5(archiveKey(barcode))).toBe(md5);
  });

  test('the token and the stored manifest record every object with its size, MD5 and SHA-256, and the storage', async () => {
    const barcode = 'UPMANI01';
    await processedBook(barcode, 1 * MiB);
    const { uploadBook } = createFileActivities(deps);
    expect((await attempt(uploadBook, { barcode })).error).toBeUndefined();
    const token = (await deps.board.get(barcode))!;
    const manifestKey = `meta/${barcode}/${barcode}.manifest.json`;
    expect(token.storedIn).toEqual({ kind: 's3', bucket: bucketName(), prefix: 'lib/', location: `s3://${bucketName()}/lib/` });
    expect(token.fixity).toMatchObject({ manifest: manifestKey, objects: 4 });
    const manifest = JSON.parse((await storage.getBytes(manifestKey)).toString()) as FixityManifest;
    expect(manifest.objects.map((o) => o.key)).toEqual([
      archiveKey(barcode),
      `full/${barcode}/${barcode}_ocr.jsonl.gz`,
      `meta/${barcode}/${barcode}_marc.json`,
      `meta/${barcode}/${barcode}.token.json`,
    ]);
    const paths = bookPaths(env.config.processingDir, barcode);
    const sha256 = createHash('sha256').update(readFileSync(paths.decrypted)).digest('hex');
    expect(manifest.objects[0]).toMatchObject({ size: MiB, sha256, md5: await md5OfFile(paths.decrypted) });
    expect(token.fixity?.archiveSha256).toBe(sha256);
    for (const entry of manifest.objects) {
      const stored = await storage.getBytes(entry.key);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(entry.sha256);
      expect(createHash('md5').update(stored).digest('hex')).toBe(entry.md5);
    }
  });

  test('a book cancelled while it uploads is not recorded stored, and the objects written for it are removed', async () => {
    const barcode = 'UPCANCEL2';
    await processedBook(barcode, 1 * MiB);
    const { uploadBook } = createFileActivities(deps);
    // The operator's cancel moves the token (cancelBook) while the upload goes on (the workflow does not wait).
    const run = await attempt(
      uploadBook,
      { barcode },
      {
        onHeartbeat: (d) => {
          if ((d as { archiveStored?: string }).archiveStored)
            void deps.board.move(barcode, 'cancelled', { status: 'cancelled by operator' });
        },
      },
    );
    expect(run.error).toBeDefined();
    expect((await deps.board.get(barcode))?.bucket).toBe('cancelled');
    expect((await deps.board.get(barcode))?.stored).toBeUndefined();
    // The location stays on record: a PUT the server finishes after the abort could still land there.
    expect((await deps.board.get(barcode))?.uploadedTo).toEqual([storage.location]);
    for (const key of [
      archiveKey(barcode),
      `full/${barcode}/${barcode}_ocr.jsonl.gz`,
      `meta/${barcode}/${barcode}_marc.json`,
      `meta/${barcode}/${barcode}.token.json`,
    ]) {
      expect(await storage.head(key)).toBeNull();
    }
  });

  test('storage changed mid-upload: the token names both locations, the book is stored in the new one, report shows the old as holding partial copies', async () => {
    const barcode = 'UPMOVE01';
    await processedBook(barcode, 20 * MiB);
    const { uploadBook } = createFileActivities(deps);
    const first = await attempt(
      uploadBook,
      { barcode },
      {
        onHeartbeat: (d, e) => ((d as { checkpoint?: UploadCheckpoint }).checkpoint?.parts.length ?? 0) >= 1 && cutOff(e),
      },
    );
    expect(first.error).toBeDefined();
    // Workers restarted with another prefix (or bucket): the retry writes there.
    const other = createStorage({ ...env.config.storage, prefix: 'moved/' } as typeof env.config.storage, {
      partsInFlight: 2,
    }) as S3Storage;
    const { uploadBook: uploadElsewhere } = createFileActivities({ ...deps, storage: other });
    const second = await attempt(uploadElsewhere, { barcode }, { info: { attempt: 2, heartbeatDetails: lastHeartbeat(first) } });
    expect(second.error).toBeUndefined();
    const token = (await deps.board.get(barcode))!;
    expect(token.uploadedTo).toEqual([storage.location, other.location]);
    expect(token.storedIn?.location).toBe(other.location);
    expect(token.storage).toBe(other.location);
    expect(reportRow(token).partialCopiesIn).toEqual([storage.location]);
    expect(await other.readDigest(archiveKey(barcode), { md5: true })).toEqual(
      await digestFile(bookPaths(env.config.processingDir, barcode).decrypted),
    );
  });

  test('a decrypted archive changed on disk since decryption is not uploaded; the book is sent to be downloaded again', async () => {
    const barcode = 'UPDISK01';
    await processedBook(barcode, 1 * MiB);
    const paths = bookPaths(env.config.processingDir, barcode);
    const decryptedSha256 = createHash('sha256').update(readFileSync(paths.decrypted)).digest('hex');
    await deps.board.update(barcode, { decryptedSha256 }); // what the decrypt stage records
    const bytes = readFileSync(paths.decrypted);
    bytes[4242] ^= 0x01;
    writeFileSync(paths.decrypted, bytes);
    const { uploadBook } = createFileActivities(deps);
    const run = await attempt(uploadBook, { barcode });
    expect(run.error).toBeInstanceOf(ApplicationFailure);
    expect(run.error).toMatchObject({
      type: 'LocalCopyDamagedError',
      nonRetryable: true,
      details: [expect.objectContaining({ redownload: true })],
    });
    expect((run.error as Error).message).toContain(`decryption wrote ${decryptedSha256}`);
    expect(await storage.head(archiveKey(barcode))).toBeNull();
  });

  test.each([
    ['a single PUT', 1 * MiB],
    ['a multipart upload', 20 * MiB],
  ])(
    "with decryption's size, MD5 and SHA-256 on the token, an archive changed on disk since is caught in %s (no digest pass) and sent to be downloaded again",
    async (_how, size) => {
      const barcode = `UPDIG${size}`;
      const md5 = await processedBook(barcode, size);
      const paths = bookPaths(env.config.processingDir, barcode);
      const decryptedSha256 = createHash('sha256').update(readFileSync(paths.decrypted)).digest('hex');
      await deps.board.update(barcode, { decryptedSha256, decryptedMd5: md5, decryptedBytes: size }); // what the decrypt stage records
      const bytes = readFileSync(paths.decrypted);
      bytes[size - 4242] ^= 0x01;
      writeFileSync(paths.decrypted, bytes);
      const { uploadBook } = createFileActivities(deps);
      const run = await attempt(uploadBook, { barcode });
      expect(run.error).toMatchObject({
        type: 'LocalCopyDamagedError',
        nonRetryable: true,
        details: [expect.objectContaining({ redownload: true })],
      });
      expect((run.error as Error).message).toContain(`decryption wrote ${decryptedSha256}`);
      expect(await storage.head(archiveKey(barcode))).toBeNull();
      expect(
        (await storage.client.send(new ListMultipartUploadsCommand({ Bucket: bucketName() }))).Uploads?.filter((u) =>
          u.Key?.includes(barcode),
        ) ?? [],
      ).toEqual([]);
    },
  );

  test("with decryption's digests on the token, the stored archive and the manifest carry exactly those digests", async () => {
    const barcode = 'UPDIGOK1';
    const md5 = await processedBook(barcode, 20 * MiB);
    const paths = bookPaths(env.config.processingDir, barcode);
    const decryptedSha256 = createHash('sha256').update(readFileSync(paths.decrypted)).digest('hex');
    await deps.board.update(barcode, { decryptedSha256, decryptedMd5: md5, decryptedBytes: 20 * MiB });
    const { uploadBook } = createFileActivities(deps);
    const run = await attempt(uploadBook, { barcode });
    expect(run.error).toBeUndefined();
    expect(await storedMd5(archiveKey(barcode))).toBe(md5);
    const manifest = JSON.parse((await storage.getBytes(`meta/${barcode}/${barcode}.manifest.json`)).toString()) as FixityManifest;
    expect(manifest.objects.find((o) => o.artifact === 'archive')).toMatchObject({ size: 20 * MiB, md5, sha256: decryptedSha256 });
  });

  test('an upload the operator cancels is aborted on the server', async () => {
    const barcode = 'UPCANCEL1';
    await processedBook(barcode, 20 * MiB);
    const { uploadBook } = createFileActivities(deps);
    let uploadId: string | undefined;
    const run = await attempt(
      uploadBook,
      { barcode },
      {
        onHeartbeat: (d, e) => {
          const cp = (d as { checkpoint?: UploadCheckpoint }).checkpoint;
          uploadId ??= cp?.uploadId;
          if ((cp?.parts.length ?? 0) >= 1) operatorCancel(e);
        },
      },
    );
    expect(run.error).toBeDefined();
    expect(uploadId).toBeDefined();
    expect(await pendingUploads(archiveKey(barcode))).toEqual([]);
    expect(await storage.head(archiveKey(barcode))).toBeNull();
  });

  test('an upload interrupted on its last allowed attempt is aborted on the server', async () => {
    const barcode = 'UPLAST01';
    await processedBook(barcode, 20 * MiB);
    const { uploadBook } = createFileActivities(deps);
    const run = await attempt(
      uploadBook,
      { barcode },
      {
        info: { attempt: 3, retryPolicy: { maximumAttempts: 3 } },
        onHeartbeat: (d, e) => ((d as { checkpoint?: UploadCheckpoint }).checkpoint?.parts.length ?? 0) >= 1 && cutOff(e),
      },
    );
    expect(run.error).toBeDefined();
    expect(await pendingUploads(archiveKey(barcode))).toEqual([]);
  });

  test('an upload that fails with an error retrying cannot fix is aborted, and the failure is non-retryable', async () => {
    const barcode = 'UPREFUSE1';
    await processedBook(barcode, 20 * MiB);
    // The storage works until the server starts refusing the upload after its first part.
    const refusing: BookStorage = {
      location: storage.location,
      identity: storage.identity,
      readDigest: (key, opts) => storage.readDigest(key, opts),
      delete: (key) => storage.delete(key),
      head: (key) => storage.head(key),
      putBytes: (data, key, opts) => storage.putBytes(data, key, opts),
      getBytes: (key) => storage.getBytes(key),
      abortUpload: (cp) => storage.abortUpload(cp),
      putFile: (path, key, opts = {}) =>
        storage.putFile(path, key, {
          ...opts,
          onCheckpoint: (cp) => {
            opts.onCheckpoint?.(cp);
            if (cp.parts.length >= 1) {
              throw new S3StorageError(
                'the server refuses further parts (InvalidArgument)',
                'UploadPart',
                'b',
                undefined,
                'InvalidArgument',
                400,
                false,
              );
            }
          },
        }),
    };
    const { uploadBook } = createFileActivities({ ...deps, storage: refusing });
    const run = await attempt(uploadBook, { barcode });
    expect(run.error).toBeInstanceOf(ApplicationFailure);
    expect(run.error).toMatchObject({ type: 'S3StorageError', nonRetryable: true });
    expect(await pendingUploads(archiveKey(barcode))).toEqual([]);
  });

  test('clean-up removes the local files after the upload and moves the token to 07_stored', async () => {
    const { cleanupBook } = createFileActivities(deps);
    const paths = bookPaths(env.config.processingDir, U);
    expect(existsSync(paths.decrypted)).toBe(true);
    const run = await attempt(cleanupBook, { barcode: U });
    expect(run.error).toBeUndefined();
    for (const p of Object.values(paths)) expect(existsSync(p)).toBe(false);
    expect(await deps.board.get(U)).toMatchObject({ bucket: '07_stored', status: 'stored; local files removed' });
  });

  test('with a retention period the files move to processed/, and files older than it are purged', async () => {
    const barcode = 'KEEP0001';
    await processedBook(barcode, 1000);
    await deps.board.update(barcode, { stored: { archive: archiveKey(barcode) } });
    const paths = bookPaths(env.config.processingDir, barcode);
    const longAgo = new Date(Date.now() - 30 * 86_400_000);
    utimesSync(paths.decrypted, longAgo, longAgo); // downloaded long ago: retention still counts from now
    const processed = join(env.config.processingDir, 'processed');
    mkdirSync(join(processed, 'OLDBOOK1_extracted'), { recursive: true });
    writeFileSync(join(processed, 'OLDBOOK1.tar.gz'), 'old');
    utimesSync(join(processed, 'OLDBOOK1.tar.gz'), longAgo, longAgo);
    utimesSync(join(processed, 'OLDBOOK1_extracted'), longAgo, longAgo);

    const { cleanupBook } = createFileActivities({ ...deps, config: { ...deps.config, retentionDays: 7 } });
    const cleanedFrom = Date.now();
    const run = await attempt(cleanupBook, { barcode });
    expect(run.error).toBeUndefined();
    for (const p of Object.values(paths)) expect(existsSync(p)).toBe(false);
    expect(readdirSync(processed).sort()).toEqual(
      [`${barcode}.tar.gz`, `${barcode}.tar.gz.gpg`, `${barcode}_derivatives`, `${barcode}_extracted`].sort(),
    );
    // Touched by the clean-up (1 s of slack for the file system's coarser clock).
    expect(statSync(join(processed, `${barcode}.tar.gz`)).mtimeMs).toBeGreaterThanOrEqual(cleanedFrom - 1_000);
    expect(await deps.board.get(barcode)).toMatchObject({ bucket: '07_stored', status: 'stored; local copy kept 7 days' });
  });

  test('clean-up refuses to remove the files of a book whose upload is not recorded', async () => {
    const barcode = 'NOTSTORED1';
    await processedBook(barcode, 1000);
    const { cleanupBook } = createFileActivities(deps);
    const run = await attempt(cleanupBook, { barcode });
    expect(run.error).toMatchObject({ type: 'CleanupRefusedError', nonRetryable: true });
    expect((run.error as Error).message).toMatch(/NOTSTORED1.*in 06_processed.*records no stored upload/);
    expect(existsSync(bookPaths(env.config.processingDir, barcode).decrypted)).toBe(true);
    expect((await deps.board.get(barcode))?.bucket).toBe('06_processed');
  });
});

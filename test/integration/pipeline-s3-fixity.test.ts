/**
 * Never store a corrupt copy. The books run against the real moto server through a fault proxy that
 * flips one byte of an archive's PUT body, drops Content-MD5 and checksum headers (so the server
 * cannot notice) and lies in ETags and HEAD answers (the MD5 of what was sent): a client that
 * trusts metadata stores the damaged archive and marks the book stored. Here no damaged copy may
 * reach 07_stored, and every book ends stored once the store behaves. Then `verify` passes on the
 * honest store and finds one byte flipped at rest.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import type { VerifyReport } from '../../src/cli/verify';
import { startS3FaultProxy, type S3FaultProxy } from '../../devkit/devtools/s3-fault-proxy';
import type { RunningSimulator } from '../../devkit/simulator';
import { createStorage } from '../../src/storage';
import type { FixityManifest } from '../../src/storage/fixity';
import type { S3Storage } from '../../src/storage/s3';
import { runCli, writeConfigFile } from '../support/cli';
import {
  s3Endpoint,
  startWorkers,
  temporalClient,
  testEnv,
  testS3Storage,
  startTestSimulator,
  type RunningWorkers,
  type TestEnv,
} from '../support/pipeline';
import { TEST_PATIENCE_MS } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const BOOKS = 2;
let sim: RunningSimulator;
let env: TestEnv;
let proxy: S3FaultProxy;
/** The same bucket straight on moto, bypassing the proxy: what the store really holds. */
let direct: S3Storage;
let workers: RunningWorkers;
let tmp: string;
const bucket = `books-fixity-${Date.now()}`;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'grin-fixity-'));
  sim = await startTestSimulator('s3fixity', {
    books: BOOKS,
    seed: 47,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 1, max: 2 },
    pageImageBytes: 8 * 1024,
  });
  proxy = await startS3FaultProxy(s3Endpoint(), { corruptBodies: BOOKS, corruptKeys: /\.tar\.gz$/, dropChecksums: true, lieEtags: true });
  env = testEnv(sim, 's3fixity', { storage: testS3Storage({ bucket, endpoint: proxy.url }) });
  direct = createStorage({ ...env.config.storage, endpoint: s3Endpoint() } as typeof env.config.storage) as S3Storage;
  await direct.createBucketIfMissing();
  workers = await startWorkers(env.config);
});

afterAll(async () => {
  await workers?.stop();
  await proxy?.close();
  await sim?.close();
  env?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('an archive damaged on its way to S3 (checksums dropped, ETags lied) is never recorded stored; every book ends stored intact', async () => {
  const client = await temporalClient();
  const board = await Board.open(env.config.pipelineDir);
  const handle = await startBatch(client, env.config, sim.barcodes, {
    batchId: 's3fixity',
    window: BOOKS,
    settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
  });
  const summary = await handle.result();
  expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });

  // The faults happened: each archive's first PUT was damaged, unseen by the server, and lied about.
  expect(proxy.stats.corrupted.map((c) => c.key).sort()).toEqual(sim.barcodes.map((b) => `raw/${b}/${b}.tar.gz`).sort());
  expect(proxy.stats.checksumHeadersDropped).toBeGreaterThan(0);
  expect(proxy.stats.etagsLied).toBeGreaterThan(0);

  for (const barcode of sim.barcodes) {
    const token = await board.get(barcode);
    expect(token?.bucket).toBe('07_stored');
    // What the store really holds is a whole gzip stream whose SHA-256 is the one recorded.
    const archive = await direct.getBytes(`raw/${barcode}/${barcode}.tar.gz`);
    expect(() => gunzipSync(archive)).not.toThrow();
    expect(createHash('sha256').update(archive).digest('hex')).toBe(token?.fixity?.archiveSha256);
    // ...and the digest decryption took of GRIN's bytes, decrypted, as it wrote them.
    expect(token?.decryptedSha256).toBe(token?.fixity?.archiveSha256);
    // Its MD5 and size were taken in the same pass (issue 23): the upload sent them without a digest pass of its own.
    expect(token?.decryptedMd5).toBe(createHash('md5').update(archive).digest('hex'));
    expect(token?.decryptedBytes).toBe(archive.length);
    const manifest = JSON.parse((await direct.getBytes(`meta/${barcode}/${barcode}.manifest.json`)).toString()) as FixityManifest;
    expect(manifest.storage.location).toBe(`s3://${bucket}/`);
    for (const entry of manifest.objects) {
      const bytes = await direct.getBytes(entry.key);
      expect({ key: entry.key, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }).toEqual({
        key: entry.key,
        size: entry.size,
        sha256: entry.sha256,
      });
    }
    expect(token?.storedIn).toEqual({ kind: 's3', bucket, prefix: '', location: `s3://${bucket}/` });
  }
});

test('verify passes on an honest store and finds one byte flipped at rest; --since skips only books verified OK', async () => {
  // verify reads the store directly (the proxy is the upload path's trouble, not this test's).
  const config = { ...env.config, storage: { ...env.config.storage, endpoint: s3Endpoint() } } as typeof env.config;
  const configFile = writeConfigFile(tmp, config);
  const reportFile = join(tmp, 'fixity.json');
  const honest = await runCli(['-c', configFile, 'verify', '--all', '--format', 'json', '--out', reportFile]);
  expect(honest.error).toBeUndefined();
  expect(honest.exitCode).toBe(0);
  const first = JSON.parse(readFileSync(reportFile, 'utf8')) as VerifyReport;
  expect(first.summary).toMatchObject({ books: BOOKS, ok: BOOKS, failed: 0 });
  expect(first.books.flatMap((b) => b.objects.map((o) => o.verdict))).toEqual(Array(BOOKS * 4).fill('ok'));
  expect(honest.stderr).toMatch(/\[1\/2\] \S+ ok: 4 objects/);

  // One byte flipped at rest, metadata kept, written straight to moto.
  const [damaged, intact] = sim.barcodes;
  const key = direct.fullKey(`raw/${damaged}/${damaged}.tar.gz`);
  const got = await direct.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = Buffer.from(await got.Body!.transformToByteArray());
  bytes[Math.floor(bytes.length / 3)] ^= 0x40;
  await direct.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, Metadata: got.Metadata }));

  const csvFile = join(tmp, 'fixity.csv');
  const found = await runCli(['-c', configFile, 'verify', '--all', '--out', csvFile]);
  expect(found.exitCode).toBe(1);
  const rows = readFileSync(csvFile, 'utf8').trim().split('\n').slice(1);
  expect(rows.filter((r) => r.includes(',mismatch,'))).toEqual([
    expect.stringContaining(`${damaged},archive,raw/${damaged}/${damaged}.tar.gz,mismatch,`),
  ]);
  const board = await Board.open(env.config.pipelineDir);
  expect((await board.get(damaged))?.fixity).toMatchObject({ verifiedOk: false, verifyProblem: expect.stringContaining('SHA-256') });
  expect((await board.get(intact))?.fixity).toMatchObject({ verifiedOk: true });

  // Resumed within the hour: the intact book is skipped, the damaged one checked again (and still failing).
  const resumed = await runCli(['-c', configFile, 'verify', '--all', '--since', '1h', '--format', 'json']);
  expect(resumed.exitCode).toBe(1);
  const again = JSON.parse(resumed.stdout) as VerifyReport;
  expect(again.books.map((b) => b.barcode)).toEqual([damaged]);
  expect(again.skipped.map((s) => s.barcode)).toEqual([intact]);

  // report shows when each book was last verified.
  const report = await runCli(['-c', configFile, 'report']);
  const lines = report.stdout.trim().split('\r\n');
  const header = lines[0].split(',');
  const row = lines.find((l) => l.startsWith(`${damaged},`))!.split(',');
  expect(row[header.indexOf('verified_ok')]).toBe('false');
  expect(Date.parse(row[header.indexOf('verified_at')])).toBeGreaterThan(Date.now() - 3_600_000);
});

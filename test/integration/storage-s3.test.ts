/**
 * S3Storage against a real S3-compatible server (moto, started by the jest global setup and
 * published in GRIN_TEST_S3_ENDPOINT).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { S3Storage, S3StorageError, type S3StorageOptions } from '../../src/storage/s3';
import { LocalStorage } from '../../src/storage/local';
import { createStorage } from '../../src/storage';
import type { UploadCheckpoint } from '../../src/storage/types';

const MiB = 1024 * 1024;
const FILE_SIZE = 40 * 1000 * 1000; // 5 parts of 8 MiB, the last one smaller
const PARTS = 5;

const endpoint = process.env.GRIN_TEST_S3_ENDPOINT;
const bucket = `grin-storage-test-${randomBytes(4).toString('hex')}`;
let tmp: string;
let bigFile: string;
let bigMd5: string;

function makeStorage(overrides: Partial<S3StorageOptions> = {}): S3Storage {
  if (!endpoint) throw new Error('GRIN_TEST_S3_ENDPOINT is not set; run through jest so the global setup starts moto');
  return new S3Storage({
    bucket,
    prefix: 'run1',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksums: 'when_required',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test-secret-value' },
    partsInFlight: 3,
    ...overrides,
  });
}

/** Counts UploadPart requests that reach the wire (an SDK middleware on the transfer client). */
function countUploadParts(storage: S3Storage): { count: number } {
  const counter = { count: 0 };
  storage.transferClient.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand') counter.count++;
      return next(args);
    },
    { step: 'initialize', name: `countUploadParts${Math.random()}` },
  );
  return counter;
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

async function pendingUploads(storage: S3Storage, key: string): Promise<string[]> {
  const out = await storage.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: storage.fullKey(key) }));
  return (out.Uploads ?? []).filter((u) => u.Key === storage.fullKey(key)).map((u) => u.UploadId!);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-storage-s3-'));
  bigFile = path.join(tmp, 'big.tar.gz');
  const fd = fs.openSync(bigFile, 'w');
  const hash = createHash('md5');
  for (let written = 0; written < FILE_SIZE;) {
    const chunk = randomBytes(Math.min(4 * MiB, FILE_SIZE - written));
    fs.writeSync(fd, chunk);
    hash.update(chunk);
    written += chunk.length;
  }
  fs.closeSync(fd);
  bigMd5 = hash.digest('hex');
  const storage = makeStorage();
  await storage.createBucketIfMissing();
  await storage.createBucketIfMissing(); // a second call finds it and does nothing
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('putBytes, head and getBytes with metadata, under the prefix', async () => {
  const storage = makeStorage();
  expect(storage.location).toBe(`s3://${bucket}/run1/`);
  const meta = { Barcode: 'B123', grin_etag: 'abcdef0123', original_filename: 'B123.tar.gz.gpg', acquired_at: '2025-01-02T03:04:05Z' };
  const stored = await storage.putBytes('{"hello":"world"}', 'meta/B123/B123.token.json', {
    metadata: meta,
    contentType: 'application/json',
  });
  const expectedMeta = {
    barcode: 'B123',
    grin_etag: 'abcdef0123',
    original_filename: 'B123.tar.gz.gpg',
    acquired_at: '2025-01-02T03:04:05Z',
  };
  expect(stored).toEqual({ size: 17, metadata: expectedMeta });
  expect(await storage.head('meta/B123/B123.token.json')).toEqual({ size: 17, metadata: expectedMeta });
  expect((await storage.getBytes('meta/B123/B123.token.json')).toString()).toBe('{"hello":"world"}');
  // The prefix is really on the server: a storage without it sees the object at the full key.
  const unprefixed = makeStorage({ prefix: '' });
  expect(await unprefixed.head('run1/meta/B123/B123.token.json')).toEqual({ size: 17, metadata: expectedMeta });
});

test('head of a missing key is null', async () => {
  expect(await makeStorage().head('raw/NOPE/NOPE.tar.gz')).toBeNull();
});

test('a small file goes up in one PutObject and is verified by MD5', async () => {
  const storage = makeStorage({ checksums: 'when_supported' });
  const counter = countUploadParts(storage);
  const data = randomBytes(3 * MiB + 17);
  const file = path.join(tmp, 'small.bin');
  fs.writeFileSync(file, data);
  const stored = await storage.putFile(file, 'raw/SMALL1/SMALL1.tar.gz', { metadata: { barcode: 'SMALL1' } });
  expect(stored).toEqual({ size: data.length, metadata: { barcode: 'SMALL1' } });
  expect(counter.count).toBe(0);
  expect(md5(await storage.getBytes('raw/SMALL1/SMALL1.tar.gz'))).toBe(md5(data));
});

test.each(['when_required', 'when_supported'] as const)(
  'multipart upload of a 40 MB file in 8 MiB parts (checksums %s)',
  async (checksums) => {
    const storage = makeStorage({ checksums });
    const counter = countUploadParts(storage);
    const checkpoints: UploadCheckpoint[] = [];
    const key = `raw/BIG_${checksums}/BIG.tar.gz`;
    const stored = await storage.putFile(bigFile, key, {
      metadata: { barcode: 'BIG', grin_etag: 'e1' },
      onCheckpoint: (c) => checkpoints.push(structuredClone(c)),
    });
    expect(stored).toEqual({ size: FILE_SIZE, metadata: { barcode: 'BIG', grin_etag: 'e1' } });
    expect(counter.count).toBe(PARTS);
    // One checkpoint when the upload starts, then one per finished part.
    expect(checkpoints.map((c) => c.parts.length)).toEqual([0, 1, 2, 3, 4, 5]);
    const last = checkpoints[PARTS];
    expect(last.key).toBe(key);
    expect(last.partSize).toBe(8 * MiB);
    expect(last.parts.map((p) => p.partNumber)).toEqual([1, 2, 3, 4, 5]);
    expect(last.parts[4].size).toBe(FILE_SIZE - 4 * 8 * MiB);
    // Each part's ETag is the MD5 of that range of the file: parts are cut where they should be.
    const whole = fs.readFileSync(bigFile);
    for (const p of last.parts) {
      const start = (p.partNumber - 1) * last.partSize;
      expect(p.etag.replace(/"/g, '')).toBe(md5(whole.subarray(start, start + p.size)));
    }
    expect(md5(await storage.getBytes(key))).toBe(bigMd5);
    expect(await pendingUploads(storage, key)).toEqual([]);
  },
);

test('an interrupted multipart upload resumes: only missing parts are sent, server wins over the checkpoint', async () => {
  const key = 'raw/RESUME1/RESUME1.tar.gz';
  const first = makeStorage({ partsInFlight: 1 });
  const checkpoints: UploadCheckpoint[] = [];
  await expect(
    first.putFile(bigFile, key, {
      metadata: { barcode: 'RESUME1' },
      onCheckpoint: (c) => {
        checkpoints.push(structuredClone(c));
        if (c.parts.length === 2) throw new Error('simulated worker crash');
      },
    }),
  ).rejects.toThrow('simulated worker crash');

  const uploadId = checkpoints[0].uploadId;
  // The crash left the upload open with two parts on the server.
  expect(await pendingUploads(first, key)).toEqual([uploadId]);
  const listed = await first.client.send(new ListPartsCommand({ Bucket: bucket, Key: first.fullKey(key), UploadId: uploadId }));
  expect((listed.Parts ?? []).map((p) => p.PartNumber)).toEqual([1, 2]);

  // Resume from an older checkpoint that knows only part 1: the server's list says 2 are done.
  const stale = checkpoints.find((c) => c.parts.length === 1)!;
  const second = makeStorage({ partsInFlight: 2 });
  const counter = countUploadParts(second);
  const resumed: UploadCheckpoint[] = [];
  const stored = await second.putFile(bigFile, key, {
    metadata: { barcode: 'RESUME1' },
    resumeFrom: stale,
    onCheckpoint: (c) => resumed.push(structuredClone(c)),
  });
  expect(counter.count).toBe(PARTS - 2);
  expect(resumed[0].uploadId).toBe(uploadId);
  expect(resumed[0].parts.map((p) => p.partNumber)).toEqual([1, 2]);
  expect(stored).toEqual({ size: FILE_SIZE, metadata: { barcode: 'RESUME1' } });
  expect(md5(await second.getBytes(key))).toBe(bigMd5);
  expect(await pendingUploads(second, key)).toEqual([]);
});

test('on resume a server part whose bytes differ from the local file is uploaded again', async () => {
  const key = 'raw/RESUME2/RESUME2.tar.gz';
  const file = path.join(tmp, 'changing.tar.gz');
  fs.copyFileSync(bigFile, file);
  let crashAt: UploadCheckpoint | undefined;
  await expect(
    makeStorage({ partsInFlight: 1 }).putFile(file, key, {
      onCheckpoint: (c) => {
        if (c.parts.length === 2) {
          crashAt = structuredClone(c);
          throw new Error('simulated worker crash');
        }
      },
    }),
  ).rejects.toThrow('simulated worker crash');
  // The local file changed inside part 1 since (same size): part 1 on the server is stale.
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from('CHANGED'), 0, 7, 1000);
  fs.closeSync(fd);

  const storage = makeStorage();
  const counter = countUploadParts(storage);
  await storage.putFile(file, key, { resumeFrom: crashAt });
  expect(counter.count).toBe(PARTS - 1); // part 1 again, and 3, 4, 5
  expect(md5(await storage.getBytes(key))).toBe(md5(fs.readFileSync(file)));
});

test('a part that fails with a server error after its body was sent fails the attempt (retryable); the next attempt resumes from its checkpoint and stores the file intact', async () => {
  const key = 'raw/RETRY1/RETRY1.tar.gz';
  const storage = makeStorage({ partsInFlight: 1 });
  let attempts = 0;
  // After the second part reached the server, answer as an overloaded server would.
  storage.transferClient.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === 'UploadPartCommand' && ++attempts === 2) {
        throw Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
      }
      return result;
    },
    { step: 'initialize', name: 'failSecondPartOnce' },
  );
  const checkpoints: UploadCheckpoint[] = [];
  const error = await storage.putFile(bigFile, key, { onCheckpoint: (c) => checkpoints.push(structuredClone(c)) }).then(
    () => undefined,
    (err: unknown) => err,
  );
  // One try inside the call: Temporal's retry of the activity is the only retry layer.
  expect(error).toBeInstanceOf(S3StorageError);
  expect(error).toMatchObject({ retryable: true, httpStatus: 503 });
  expect(attempts).toBe(2);
  const stored = await storage.putFile(bigFile, key, { resumeFrom: checkpoints.at(-1) });
  // Part 2 reached the server before the 503: resume finds it (ListParts, MD5 checked against the file), sends the rest.
  expect(attempts).toBe(PARTS);
  expect(stored.size).toBe(FILE_SIZE);
  expect(md5(await storage.getBytes(key))).toBe(bigMd5);
});

test('resume of an upload the server no longer knows (NoSuchUpload) starts a new one', async () => {
  const key = 'raw/GONE1/GONE1.tar.gz';
  const storage = makeStorage();
  const counter = countUploadParts(storage);
  const checkpoints: UploadCheckpoint[] = [];
  const gone: UploadCheckpoint = {
    key,
    uploadId: 'upload-that-does-not-exist',
    partSize: 8 * MiB,
    parts: [{ partNumber: 1, etag: '"0123456789abcdef0123456789abcdef"', size: 8 * MiB }],
  };
  const stored = await storage.putFile(bigFile, key, { resumeFrom: gone, onCheckpoint: (c) => checkpoints.push(c) });
  expect(stored.size).toBe(FILE_SIZE);
  expect(counter.count).toBe(PARTS);
  expect(checkpoints[0].uploadId).not.toBe(gone.uploadId);
  expect(md5(await storage.getBytes(key))).toBe(bigMd5);
});

test('an abort signal stops the upload but keeps it for a resume; abortUpload then removes it', async () => {
  const key = 'raw/ABORT1/ABORT1.tar.gz';
  const storage = makeStorage({ partsInFlight: 1 });
  const controller = new AbortController();
  let last: UploadCheckpoint | undefined;
  const error: unknown = await storage
    .putFile(bigFile, key, {
      signal: controller.signal,
      onCheckpoint: (c) => {
        last = structuredClone(c);
        if (c.parts.length === 1) controller.abort();
      },
    })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(S3StorageError);
  expect((error as S3StorageError).code).toBe('AbortError');
  expect((error as Error).message).toContain(`s3://${bucket}/run1/${key}`);
  expect(await pendingUploads(storage, key)).toEqual([last!.uploadId]);

  await storage.abortUpload(last!);
  expect(await pendingUploads(storage, key)).toEqual([]);
  await expect(storage.abortUpload(last!)).resolves.toBeUndefined(); // already gone: fine
  expect(await storage.head(key)).toBeNull();
});

test('an error that will only repeat gives the multipart upload up (aborted on the server)', async () => {
  const key = 'raw/DENIED1/DENIED1.tar.gz';
  const storage = makeStorage({ partsInFlight: 1 });
  let partsSeen = 0;
  // The server refusing the third part for good (a 4xx about this request, not the bucket).
  storage.transferClient.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand' && ++partsSeen === 3) {
        throw Object.assign(new Error('Invalid Argument'), { name: 'InvalidArgument', $metadata: { httpStatusCode: 400 } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'denyThirdPart' },
  );
  let uploadId = '';
  const error: unknown = await storage.putFile(bigFile, key, { onCheckpoint: (c) => (uploadId = c.uploadId) }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(S3StorageError);
  expect((error as S3StorageError).retryable).toBe(false);
  expect((error as Error).message).toMatch(/UploadPart 3 failed for s3:\/\/.*DENIED1\.tar\.gz: InvalidArgument \(HTTP 400\)/);
  expect(uploadId).not.toBe('');
  expect(await pendingUploads(storage, key)).toEqual([]);
});

test('verifyStored reports a size or MD5 mismatch naming the key and sizes', async () => {
  const storage = makeStorage();
  await storage.putBytes('twelve bytes', 'meta/V1/V1.json');
  await expect(storage.verifyStored('meta/V1/V1.json', { size: 12 })).resolves.toEqual({ size: 12, metadata: {} });
  await expect(storage.verifyStored('meta/V1/V1.json', { size: 13 })).rejects.toThrow(
    `Upload verification failed for s3://${bucket}/run1/meta/V1/V1.json: stored size 12 bytes, local file 13 bytes`,
  );
  await expect(storage.verifyStored('meta/V1/V1.json', { size: 12, md5: '0123456789abcdef0123456789abcdef' })).rejects.toThrow(
    /stored MD5 \(ETag\) [0-9a-f]{32}, local MD5 0123456789abcdef0123456789abcdef/,
  );
});

test('errors name bucket, key and S3 code, and never the secret', async () => {
  const storage = makeStorage({ bucket: 'grin-no-such-bucket-here' });
  const error: unknown = await storage.putBytes('x', 'meta/E1/E1.json').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(S3StorageError);
  const message = (error as Error).message;
  expect(message).toContain('s3://grin-no-such-bucket-here/run1/meta/E1/E1.json');
  expect(message).toContain('NoSuchBucket');
  expect(message).not.toContain('test-secret-value');
  // A missing bucket hits every book: they wait for an operator (transient), they do not park.
  expect((error as S3StorageError).retryable).toBe(true);
  expect((error as S3StorageError).waitingFor).toMatch(/bucket s3:\/\/grin-no-such-bucket-here to exist/);
});

test('createStorage builds S3 storage from config, reading the keys from the named secrets', async () => {
  const layout = { archive: 'raw/{barcode}.tar.gz', ocr: 'o/{barcode}', marc: 'm/{barcode}', token: 't/{barcode}' };
  const config = {
    kind: 's3' as const,
    bucket,
    prefix: 'run2/',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksums: 'when_required' as const,
    accessKeyId: { env: 'TEST_S3_KEY_ID' },
    secretAccessKey: { env: 'TEST_S3_SECRET' },
    layout,
  };
  const storage = createStorage(config, { env: { TEST_S3_KEY_ID: 'test', TEST_S3_SECRET: 'test' } });
  expect(storage).toBeInstanceOf(S3Storage);
  expect(storage.location).toBe(`s3://${bucket}/run2/`);
  await storage.putBytes('via config', 't/B9');
  expect((await storage.getBytes('t/B9')).toString()).toBe('via config');

  expect(() => createStorage(config, { env: {} })).toThrow(/TEST_S3_KEY_ID/);
  expect(() => createStorage({ ...config, secretAccessKey: undefined })).toThrow(/storage.secretAccessKey is missing/);
  expect(createStorage({ kind: 'local', path: tmp, layout })).toBeInstanceOf(LocalStorage);
});

/**
 * Fixity of uploads at the storage level, on real S3 servers (moto from the global setup, and
 * `rclone serve s3`) behind the S3 fault proxy: a damaged part with its Content-MD5 kept is refused
 * by the server itself (and sent again); with the checksums dropped and the ETags lied about, only
 * reading the object back finds the damage, and the check removes the copy. Local storage too.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRcloneS3Server, type RunningServer } from '../../devkit/devtools/servers';
import { startS3FaultProxy, type S3FaultProxy } from '../../devkit/devtools/s3-fault-proxy';
import { LocalStorage } from '../../src/storage/local';
import { S3Storage } from '../../src/storage/s3';
import { checkStoredCopy, digestFile, FixityMismatchError } from '../../src/storage/fixity';

jest.setTimeout(300_000);

const MiB = 1024 * 1024;
const SIZE = 20 * MiB; // 3 parts of 8 MiB, the last one smaller
let tmp: string;
let file: string;
let rclone: RunningServer;
const proxies: S3FaultProxy[] = [];

function s3(endpoint: string, bucket: string, credentials = { accessKeyId: 'test', secretAccessKey: 'test-secret-value' }): S3Storage {
  return new S3Storage({
    bucket,
    prefix: 'fix',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksums: 'when_required',
    credentials,
    partsInFlight: 2,
  });
}

async function proxied(target: string): Promise<S3FaultProxy> {
  const proxy = await startS3FaultProxy(target);
  proxies.push(proxy);
  return proxy;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-fixity-storage-'));
  file = path.join(tmp, 'book.tar.gz');
  fs.writeFileSync(file, randomBytes(SIZE));
  const rcloneCreds = { accessKeyId: 'rclone-fixity', secretAccessKey: 'rclone-fixity-secret' };
  rclone = await startRcloneS3Server({ dataDir: path.join(tmp, 'rclone'), ...rcloneCreds, logFile: path.join(tmp, 'rclone.log') });
  await s3(rclone.address, 'books', rcloneCreds).createBucketIfMissing();
});

afterAll(async () => {
  for (const p of proxies) await p.close();
  await rclone?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * What each server does with a damaged body whose Content-MD5 came with it (found by these tests):
 * moto 5 records Content-MD5 and x-amz-checksum-* but checks neither; rclone checks the body.
 */
const servers = [
  {
    name: 'moto',
    endpoint: () => process.env.GRIN_TEST_S3_ENDPOINT!,
    bucket: `fixity-${Date.now()}`,
    creds: undefined,
    refusesDamagedBody: false,
  },
  {
    name: 'rclone serve s3',
    endpoint: () => rclone.address,
    bucket: 'books',
    creds: { accessKeyId: 'rclone-fixity', secretAccessKey: 'rclone-fixity-secret' },
    refusesDamagedBody: true,
  },
];

describe.each(servers)('$name', ({ endpoint, bucket, creds, refusesDamagedBody }) => {
  beforeAll(async () => {
    await s3(endpoint(), bucket, creds).createBucketIfMissing();
  });

  /** One upload attempt as the upload activity makes it: put, then read back and compare. */
  async function uploadOnce(
    storage: S3Storage,
    local: string,
    key: string,
  ): Promise<'stored' | 'refused by the server' | 'removed by the read-back check'> {
    try {
      await storage.putFile(local, key);
    } catch (err) {
      // With the error's text beside, so that a refusal classified as permanent says which it was
      // (seen once in a full run on a loaded machine, not reproduced in 22 runs since).
      expect({ retryable: (err as { retryable?: unknown }).retryable, error: String(err) }).toMatchObject({ retryable: true });
      return 'refused by the server';
    }
    try {
      await checkStoredCopy(storage, key, await digestFile(local));
      return 'stored';
    } catch (err) {
      expect(err).toBeInstanceOf(FixityMismatchError);
      return 'removed by the read-back check';
    }
  }

  test.each([
    ['a multipart upload', SIZE],
    ['a single PUT', 64 * 1024],
  ])('%s with a damaged body (Content-MD5 kept, ETags lied) never stays stored; the next attempt stores it intact', async (_what, size) => {
    const local = path.join(tmp, `body-${size}.bin`);
    fs.writeFileSync(local, randomBytes(size));
    const key = `raw/D${size}/D${size}.tar.gz`;
    const proxy = await proxied(endpoint());
    const storage = s3(proxy.url, bucket, creds);
    proxy.faults.corruptBodies = 1;
    proxy.faults.lieEtags = true; // the client's own look at the ETag is fooled
    const first = await uploadOnce(storage, local, key);
    expect(proxy.stats.corrupted).toHaveLength(1);
    expect(first).toBe(refusesDamagedBody ? 'refused by the server' : 'removed by the read-back check');
    const honest = s3(endpoint(), bucket, creds);
    if (first === 'removed by the read-back check') expect(await honest.head(key)).toBeNull();
    expect(await uploadOnce(storage, local, key)).toBe('stored');
    expect(await honest.readDigest(key, { md5: true })).toEqual(await digestFile(local));
  });
});

test('moto: with the checksums dropped and the ETags lied about, the upload "succeeds"; reading it back finds the damage and removes the copy', async () => {
  const endpoint = process.env.GRIN_TEST_S3_ENDPOINT!;
  const bucket = servers[0].bucket;
  const proxy = await proxied(endpoint);
  const storage = s3(proxy.url, bucket);
  Object.assign(proxy.faults, { corruptBodies: 1, dropChecksums: true, lieEtags: true });
  await storage.putFile(file, 'raw/P3/P3.tar.gz'); // nothing on the way notices
  expect(proxy.stats.corrupted).toHaveLength(1);
  const local = await digestFile(file);
  const error = await checkStoredCopy(storage, 'raw/P3/P3.tar.gz', local).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(FixityMismatchError);
  expect(error).toMatchObject({ retryable: true, message: expect.stringContaining('raw/P3/P3.tar.gz') });
  expect((error as Error).message).toContain(`SHA-256 ${local.sha256} expected`);
  expect(await s3(endpoint, bucket).head('raw/P3/P3.tar.gz')).toBeNull();
  expect(await storage.readDigest('raw/P3/P3.tar.gz')).toBeNull();
});

test('local storage: readDigest hashes the stored file; a byte flipped in the folder is found; delete removes object and metadata', async () => {
  const root = path.join(tmp, 'local');
  const storage = new LocalStorage(root);
  await storage.putFile(file, 'raw/L1/L1.tar.gz', { metadata: { barcode: 'L1' } });
  const local = await digestFile(file);
  await checkStoredCopy(storage, 'raw/L1/L1.tar.gz', local);
  const stored = path.join(root, 'raw/L1/L1.tar.gz');
  const fd = fs.openSync(stored, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, 12345);
  byte[0] ^= 0x01;
  fs.writeSync(fd, byte, 0, 1, 12345);
  fs.closeSync(fd);
  expect((await storage.readDigest('raw/L1/L1.tar.gz'))?.sha256).not.toBe(local.sha256);
  await expect(checkStoredCopy(storage, 'raw/L1/L1.tar.gz', local)).rejects.toBeInstanceOf(FixityMismatchError);
  expect(fs.existsSync(stored)).toBe(false);
  expect(fs.existsSync(`${stored}.meta.json`)).toBe(false);
});

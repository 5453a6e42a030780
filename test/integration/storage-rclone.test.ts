/**
 * S3Storage against a second S3 dialect: `rclone serve s3` over a local folder (a real rclone
 * process, started here). With `storage.checksums: when_required` it stores objects, single and
 * multipart; with the SDK's `when_supported` rclone refuses streamed uploads, and the error names
 * the setting that fixes it.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRcloneS3Server, type RunningServer } from '../../devkit/devtools/servers';
import { S3Storage, S3StorageError, type S3StorageOptions } from '../../src/storage/s3';

jest.setTimeout(300_000);

const MiB = 1024 * 1024;
const ACCESS = 'rclone-test-access';
const SECRET = 'rclone-test-secret-value';
let server: RunningServer;
let tmp: string;

function storage(overrides: Partial<S3StorageOptions> = {}): S3Storage {
  return new S3Storage({
    bucket: 'books',
    prefix: 'lib',
    region: 'us-east-1',
    endpoint: server.address,
    forcePathStyle: true,
    checksums: 'when_required',
    credentials: { accessKeyId: ACCESS, secretAccessKey: SECRET },
    partsInFlight: 2,
    ...overrides,
  });
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-rclone-'));
  server = await startRcloneS3Server({
    dataDir: path.join(tmp, 'data'),
    accessKeyId: ACCESS,
    secretAccessKey: SECRET,
    logFile: path.join(tmp, 'rclone.log'),
  });
  await storage().createBucketIfMissing();
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('with checksums when_required: bytes, a single PutObject and a multipart upload are stored intact', async () => {
  const s3 = storage();
  await s3.putBytes('{"barcode":"R1"}', 'meta/R1/R1.token.json', { metadata: { barcode: 'R1' } });
  expect((await s3.getBytes('meta/R1/R1.token.json')).toString()).toBe('{"barcode":"R1"}');
  expect(await s3.head('meta/R1/R1.token.json')).toEqual({ size: 16, metadata: { barcode: 'R1' } });

  const small = randomBytes(MiB + 5);
  fs.writeFileSync(path.join(tmp, 'small.bin'), small);
  expect(await s3.putFile(path.join(tmp, 'small.bin'), 'raw/R1/R1.tar.gz')).toMatchObject({ size: small.length });
  expect(md5(await s3.getBytes('raw/R1/R1.tar.gz'))).toBe(md5(small));

  // Three 8 MiB parts, the last one smaller.
  const big = randomBytes(20 * MiB);
  fs.writeFileSync(path.join(tmp, 'big.bin'), big);
  const parts: number[] = [];
  const stored = await s3.putFile(path.join(tmp, 'big.bin'), 'raw/R2/R2.tar.gz', {
    metadata: { barcode: 'R2' },
    onCheckpoint: (c) => parts.push(c.parts.length),
  });
  expect(stored).toEqual({ size: big.length, metadata: { barcode: 'R2' } });
  expect(parts).toEqual([0, 1, 2, 3]);
  expect(md5(await s3.getBytes('raw/R2/R2.tar.gz'))).toBe(md5(big));
  // What rclone wrote to its folder is the file itself.
  expect(md5(fs.readFileSync(path.join(tmp, 'data', 'books', 'lib', 'raw', 'R2', 'R2.tar.gz')))).toBe(md5(big));
});

test.each([
  ['a single PutObject', MiB],
  ['a multipart upload', 20 * MiB],
])('with checksums when_supported rclone refuses %s, and the error names the setting that fixes it', async (_what, size) => {
  const file = path.join(tmp, `refused-${size}.bin`);
  fs.writeFileSync(file, randomBytes(size));
  const error = await storage({ checksums: 'when_supported' })
    .putFile(file, `raw/REFUSED${size}/REFUSED.tar.gz`)
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  expect(error).toBeInstanceOf(S3StorageError);
  const e = error as S3StorageError;
  expect(e.httpStatus).toBe(411);
  expect(e.message).toContain('MissingContentLength');
  expect(e.message).toContain('set storage.checksums: when_required in the config');
  expect(e.fixedBySetting).toBe('storage.checksums: when_required');
  // Every book would hit it: books wait for the operator (transient), none is parked.
  expect(e.retryable).toBe(true);
  expect(e.waitingFor).toContain('storage.checksums: when_required');
  expect(e.message).not.toContain(SECRET);
});

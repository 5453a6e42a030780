/**
 * `check-config` through the CLI: offline it refuses (exit 2, one line each) a missing passphrase
 * file and missing GRIN credentials; `--connect` talks to the real Temporal dev server, the GRIN
 * simulator and S3 (moto; rclone for keys, since moto takes any key) and names the part that fails.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepMerge, loadConfig } from '../../src/config/load';
import type { PipelineConfig } from '../../src/config/types';
import { startRcloneS3Server, type RunningServer } from '../../devkit/devtools/servers';
import type { RunningSimulator } from '../../devkit/simulator';
import { S3Storage } from '../../src/storage/s3';
import { runCli, writeConfigFile } from '../support/cli';
import { startTestSimulator, testEnv, testS3Storage, type TestEnv } from '../support/pipeline';

jest.setTimeout(300_000);

let sim: RunningSimulator;
let env: TestEnv;
let rclone: RunningServer;
const bucket = `check-config-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  sim = await startTestSimulator('check-config', {
    books: 2,
    barcodes: ['CHK001', 'CHK002'],
    initialStates: { CHK001: 'CONVERTED' },
    pages: { min: 1, max: 1 },
    pageImageBytes: 2048,
  });
  env = testEnv(sim, 'check-config', { storage: testS3Storage({ bucket }) });
  const s3 = env.config.storage as Extract<PipelineConfig['storage'], { kind: 's3' }>;
  await new S3Storage({ ...s3, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, partsInFlight: 1 }).createBucketIfMissing();
  rclone = await startRcloneS3Server({
    dataDir: join(env.dir, 'rclone'),
    accessKeyId: 'right-access',
    secretAccessKey: 'right-secret-value',
  });
});

afterAll(async () => {
  await rclone?.stop();
  await sim?.close();
  env?.cleanup();
});

/** The test's config with `changes` merged in, as a file for `-c`. */
function configWith(name: string, changes: Record<string, unknown> = {}): string {
  const config = loadConfig({ env: {}, overrides: deepMerge(env.config, changes) as object });
  return writeConfigFile(env.dir, config, `${name}.yaml`);
}

function lineFor(stdout: string, part: string): string {
  const line = stdout.split('\n').find((l) => new RegExp(`^\\S+ +${part} {2,}`).test(l));
  if (!line) throw new Error(`no "${part}" line in:\n${stdout}`);
  return line;
}

test('a good config passes offline and with --connect; the passphrase is tried only on a given archive', async () => {
  const offline = await runCli(['-c', configWith('good'), 'check-config']);
  expect(offline.exitCode).toBe(0);
  expect(lineFor(offline.stdout, 'passphrase')).toMatch(/^ok +passphrase +GPG passphrase readable/);
  expect(lineFor(offline.stdout, 'GRIN credentials')).toMatch(/^ok /);
  expect(offline.stdout).toContain('(connections not tested; add --connect)');

  const online = await runCli(['-c', configWith('good'), 'check-config', '--connect']);
  expect(online.exitCode).toBe(0);
  expect(lineFor(online.stdout, 'Temporal')).toMatch(/^ok +Temporal +127\.0\.0\.1:\d+: connected, namespace default/);
  expect(lineFor(online.stdout, 'GRIN')).toMatch(new RegExp(`^ok +GRIN +.*directory ${sim.directory}: authenticated listing answered`));
  expect(lineFor(online.stdout, 'storage')).toMatch(
    new RegExp(`^ok +storage +s3://${bucket}/: probe object written, read back and deleted`),
  );
  expect(lineFor(online.stdout, 'decryption')).toMatch(
    /^skipped +decryption +passphrase not tried on an archive \(give one with --archive FILE\)/,
  );
  // The probe is gone again.
  const s3 = env.config.storage as Extract<PipelineConfig['storage'], { kind: 's3' }>;
  const storage = new S3Storage({ ...s3, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, partsInFlight: 1 });
  const listed = await storage.client.send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: bucket }));
  expect(listed.KeyCount ?? 0).toBe(0);

  const archive = (await sim.archive('CHK001'))!.path;
  const withArchive = await runCli(['-c', configWith('good'), 'check-config', '--connect', '--archive', archive]);
  expect(withArchive.exitCode).toBe(0);
  expect(lineFor(withArchive.stdout, 'decryption')).toMatch(/^ok +decryption +the passphrase decrypts the first block of /);

  const wrongPassphrase = join(env.dir, 'wrong-passphrase.txt');
  writeFileSync(wrongPassphrase, 'not the library passphrase\n', { mode: 0o600 });
  const wrong = await runCli([
    '-c',
    configWith('wrong-pass', { grin: { gpgPassphrase: { file: wrongPassphrase } } }),
    'check-config',
    '--connect',
    '--archive',
    archive,
  ]);
  expect(wrong.exitCode).toBe(1);
  expect(lineFor(wrong.stdout, 'decryption')).toMatch(/^FAILED +decryption +.*passphrase is wrong/);
  expect(wrong.stdout).not.toContain('not the library passphrase');
});

test('a missing passphrase file: exit 2, one line naming the file', async () => {
  const missing = join(env.dir, 'no-such-passphrase.txt');
  const run = await runCli(['-c', configWith('no-pass', { grin: { gpgPassphrase: { file: missing } } }), 'check-config']);
  expect(run.exitCode).toBe(2);
  expect(lineFor(run.stdout, 'passphrase')).toMatch(
    new RegExp(`^FAILED +passphrase +Cannot read the GPG passphrase .*from file ${missing}: it does not exist`),
  );
});

test('no GRIN credentials: exit 2, one line saying what to set', async () => {
  const config = loadConfig({ env: {}, overrides: env.config as object });
  delete (config.grin as { accessToken?: unknown }).accessToken;
  const run = await runCli(['-c', writeConfigFile(env.dir, config, 'no-creds.yaml'), 'check-config']);
  expect(run.exitCode).toBe(2);
  expect(lineFor(run.stdout, 'GRIN credentials')).toMatch(/^FAILED +GRIN credentials +GRIN credentials missing: set grin.credentialsFile/);
});

test('--connect with a wrong Temporal address: exit 1, the Temporal line says so', async () => {
  const run = await runCli(['-c', configWith('bad-temporal', { temporal: { address: '127.0.0.1:1' } }), 'check-config', '--connect']);
  expect(run.exitCode).toBe(1);
  expect(lineFor(run.stdout, 'Temporal')).toMatch(
    /^FAILED +Temporal +Cannot connect to Temporal at 127\.0\.0\.1:1 without TLS .*is the server up and temporal.address/,
  );
  expect(lineFor(run.stdout, 'GRIN')).toMatch(/^ok /);
});

test('--connect with GRIN credentials the simulator refuses: exit 1, the GRIN line says so', async () => {
  const token = join(env.dir, 'wrong-token.txt');
  writeFileSync(token, 'not-a-valid-token', { mode: 0o600 });
  const run = await runCli(['-c', configWith('bad-grin', { grin: { accessToken: { file: token } } }), 'check-config', '--connect']);
  expect(run.exitCode).toBe(1);
  expect(lineFor(run.stdout, 'GRIN')).toMatch(/^FAILED +GRIN +GRIN GET .*(401|403|credentials|token)/i);
  expect(run.stdout).not.toContain('not-a-valid-token');
});

test('--connect with a missing bucket (moto): exit 1, the storage line names the bucket and NoSuchBucket', async () => {
  const run = await runCli([
    '-c',
    configWith('no-bucket', { storage: testS3Storage({ bucket: `${bucket}-missing` }) }),
    'check-config',
    '--connect',
  ]);
  expect(run.exitCode).toBe(1);
  expect(lineFor(run.stdout, 'storage')).toMatch(
    new RegExp(`^FAILED +storage +S3 PutObject failed for s3://${bucket}-missing/.*NoSuchBucket`),
  );
});

test('--connect with wrong S3 keys (rclone checks them): exit 1, no secret in the output', async () => {
  process.env.CHECK_WRONG_ACCESS = 'wrong-access';
  process.env.CHECK_WRONG_SECRET = 'wrong-secret-value';
  const run = await runCli([
    '-c',
    configWith('bad-keys', {
      storage: {
        ...testS3Storage({ bucket: 'books', endpoint: rclone.address }),
        accessKeyId: { env: 'CHECK_WRONG_ACCESS' },
        secretAccessKey: { env: 'CHECK_WRONG_SECRET' },
      },
    }),
    'check-config',
    '--connect',
  ]);
  expect(run.exitCode).toBe(1);
  expect(lineFor(run.stdout, 'storage')).toMatch(
    /^FAILED +storage +S3 PutObject failed for s3:\/\/books\/.*(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|403)/,
  );
  expect(run.stdout + run.stderr).not.toContain('wrong-secret-value');
});

afterAll(() => rmSync(join(env?.dir ?? '/nonexistent', 'rclone'), { recursive: true, force: true }));

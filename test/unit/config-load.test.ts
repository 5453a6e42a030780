import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeConfig, loadConfig } from '../../src/config';

const repoRoot = path.resolve(__dirname, '../..');
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-load-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeConfig(text: string, name = 'config.yaml'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

test('without a file the built-in defaults make a complete config, paths from the current folder', () => {
  const config = loadConfig({ env: {} });
  expect(config.temporal).toEqual({
    address: '127.0.0.1:7233',
    namespace: 'default',
    grinTaskQueue: 'grin-pipeline-grin',
    workflowTaskQueue: 'grin-pipeline',
    fileTaskQueuePrefix: 'grin-pipeline-files',
  });
  expect(config.grin).toMatchObject({
    baseUrl: 'https://books.google.com/libraries',
    directory: 'DEMO',
    tokenUri: 'https://oauth2.googleapis.com/token',
    gpgPassphrase: { env: 'GRIN_GPG_PASSPHRASE' },
    rateLimitPerSecond: 5,
    pollIntervalSeconds: 300,
    timeouts: { requestSeconds: 60, connectSeconds: 10 },
    minDownloadRate: { bytes: 256 * 1024, windowSeconds: 60 },
  });
  expect(config.pipelineDir).toBe(path.resolve(process.cwd(), 'data/pipeline'));
  expect(config.processingDir).toBe(path.resolve(process.cwd(), 'data/processing'));
  expect(config.retentionDays).toBe(0);
  expect(config.storage).toEqual({
    kind: 'local',
    path: path.resolve(process.cwd(), 'data/storage'),
    layout: {
      archive: 'raw/{barcode}/{barcode}.tar.gz',
      ocr: 'full/{barcode}/{barcode}_ocr.jsonl.gz',
      marc: 'meta/{barcode}/{barcode}_marc.json',
      token: 'meta/{barcode}/{barcode}.token.json',
    },
  });
  expect(config.limits).toEqual({
    maxUnpackedBytes: 20 * 1024 ** 3,
    maxEntries: 200_000,
    maxExpansionRatio: 50,
    expansionCheckAfterBytes: 64 * 1024 ** 2,
    diskUsageThreshold: 0.9,
    archiveBytesEstimate: 256 * 1024 ** 2,
  });
  expect(config.concurrency).toEqual({
    batchWindow: 2000,
    grinActivities: 4,
    fileActivities: 4,
    booksOnHost: 6,
    uploadParts: 4,
    cachedWorkflows: 500,
  });
  expect(config.timeouts).toEqual({
    hostPickupSeconds: 600,
    heartbeatSeconds: 120,
    fileStageMaxDays: 0,
    conversionWaitDays: 30,
    grinRetryMaxSeconds: 1800,
    fileRetryMaxSeconds: 300,
    batchReconcileSeconds: 300,
  });
});

test('config.example.yaml loads and equals the built-in defaults apart from the base folder', () => {
  const example = path.join(repoRoot, 'config.example.yaml');
  const fromExample = loadConfig({ file: example, env: {} });
  expect(fromExample.pipelineDir).toBe(path.join(repoRoot, 'data/pipeline'));
  const defaultsHere = loadConfig({ env: {} });
  const normalize = (value: unknown) => JSON.parse(JSON.stringify(value).split(process.cwd()).join('<base>'));
  const normalizeExample = (value: unknown) => JSON.parse(JSON.stringify(value).split(repoRoot).join('<base>'));
  expect(normalizeExample(fromExample)).toEqual(normalize(defaultsHere));
});

test('each commented s3 example in config.example.yaml is valid once uncommented', () => {
  const text = fs.readFileSync(path.join(repoRoot, 'config.example.yaml'), 'utf8');
  const blocks = text
    .split(/^# Example, /m)
    .slice(1)
    .map((block) =>
      block
        .split('\n')
        .slice(1)
        .filter((line) => line.startsWith('# ') && !line.startsWith('# ---'))
        .map((line) => line.slice(2))
        .join('\n'),
    );
  expect(blocks).toHaveLength(3);
  for (const block of blocks) {
    const config = loadConfig({ file: writeConfig(block.split('\n\n')[0]), env: {} });
    expect(config.storage.kind).toBe('s3');
  }
});

test('an empty file gives the defaults, with paths relative to the file folder', () => {
  const config = loadConfig({ file: writeConfig('# nothing set\n'), env: {} });
  expect(config.pipelineDir).toBe(path.join(dir, 'data/pipeline'));
  expect(config.grin.directory).toBe('DEMO');
});

test('file values replace defaults; nested mappings merge key by key; sizes may be written with units', () => {
  const file = writeConfig(
    [
      'grin:',
      '  directory: PRNC',
      '  timeouts: {requestSeconds: 5}',
      '  minDownloadRate: {bytes: 64 KiB}',
      'limits:',
      '  maxUnpackedBytes: 512 MiB',
      'concurrency:',
      '  batchWindow: 10',
      'retentionDays:',
    ].join('\n'),
  );
  const config = loadConfig({ file, env: {} });
  expect(config.grin.directory).toBe('PRNC');
  expect(config.grin.timeouts).toEqual({ requestSeconds: 5, connectSeconds: 10 });
  expect(config.grin.minDownloadRate).toEqual({ bytes: 64 * 1024, windowSeconds: 60 });
  expect(config.limits.maxUnpackedBytes).toBe(512 * 1024 ** 2);
  expect(config.concurrency).toEqual({
    batchWindow: 10,
    grinActivities: 4,
    fileActivities: 4,
    booksOnHost: 6,
    uploadParts: 4,
    cachedWorkflows: 500,
  });
  expect(config.retentionDays).toBe(0);
});

test('relative paths resolve against the config file folder; absolute and ~ paths are kept', () => {
  const file = writeConfig(
    [
      'pipelineDir: board',
      'processingDir: /var/tmp/grin-processing',
      'grin:',
      '  credentialsFile: secrets/credentials.json',
      '  clientSecretFile: ~/client.json',
      '  gpgPassphrase: {file: secrets/passphrase}',
      '  accessToken: {env: GRIN_TOKEN}',
      'storage:',
      '  kind: local',
      '  path: ../books',
    ].join('\n'),
    'sub.yaml',
  );
  const config = loadConfig({ file, env: {} });
  expect(config.pipelineDir).toBe(path.join(dir, 'board'));
  expect(config.processingDir).toBe('/var/tmp/grin-processing');
  expect(config.grin.credentialsFile).toBe(path.join(dir, 'secrets/credentials.json'));
  expect(config.grin.clientSecretFile).toBe(path.join(os.homedir(), 'client.json'));
  expect(config.grin.gpgPassphrase).toEqual({ file: path.join(dir, 'secrets/passphrase') });
  expect(config.grin.accessToken).toEqual({ env: 'GRIN_TOKEN' });
  expect(config.storage.kind === 'local' && config.storage.path).toBe(path.resolve(dir, '../books'));
});

test('s3 secret files resolve against the file folder too', () => {
  const file = writeConfig(
    ['storage:', '  kind: s3', '  bucket: books', '  accessKeyId: {file: keys/id}', '  secretAccessKey: {env: S3_SECRET}'].join('\n'),
  );
  const config = loadConfig({ file, env: {} });
  expect(config.storage).toMatchObject({
    kind: 's3',
    bucket: 'books',
    prefix: '',
    region: 'us-east-1',
    forcePathStyle: false,
    checksums: 'when_required',
    accessKeyId: { file: path.join(dir, 'keys/id') },
    secretAccessKey: { env: 'S3_SECRET' },
  });
});

test('concurrency.booksOnHost follows fileActivities unless set', () => {
  expect(loadConfig({ env: {}, overrides: { concurrency: { fileActivities: 8 } } }).concurrency.booksOnHost).toBe(10);
  expect(loadConfig({ env: {}, overrides: { concurrency: { fileActivities: 8, booksOnHost: 3 } } }).concurrency.booksOnHost).toBe(3);
  expect(() => loadConfig({ env: {}, overrides: { concurrency: { booksOnHost: 0 } } })).toThrow(/concurrency\.booksOnHost/);
});

test('precedence: defaults < file < TEMPORAL_* environment < overrides', () => {
  const file = writeConfig('temporal:\n  address: file-host:7233\n  namespace: file-ns\ngrin:\n  directory: FILE\n');
  expect(loadConfig({ file, env: {} }).temporal).toMatchObject({ address: 'file-host:7233', namespace: 'file-ns' });

  const env = { TEMPORAL_ADDRESS: 'env-host:7233', TEMPORAL_NAMESPACE: 'env-ns' };
  expect(loadConfig({ file, env }).temporal).toMatchObject({ address: 'env-host:7233', namespace: 'env-ns' });

  const config = loadConfig({ file, env, overrides: { temporal: { address: 'flag-host:1' }, grin: { rateLimitPerSecond: 2 } } });
  expect(config.temporal).toMatchObject({ address: 'flag-host:1', namespace: 'env-ns' });
  expect(config.grin).toMatchObject({ directory: 'FILE', rateLimitPerSecond: 2 });
});

test('an override may switch storage from local to s3 without inheriting local keys', () => {
  const file = writeConfig('storage:\n  kind: local\n  path: books\n');
  const config = loadConfig({ file, env: {}, overrides: { storage: { kind: 's3', bucket: 'b' } } });
  expect(config.storage).toMatchObject({ kind: 's3', bucket: 'b' });
  expect(config.storage).not.toHaveProperty('path');
});

test('GRIN_PIPELINE_CONFIG names the file when none is given', () => {
  const file = writeConfig('grin:\n  directory: FROMENV\n');
  expect(loadConfig({ env: { GRIN_PIPELINE_CONFIG: file } }).grin.directory).toBe('FROMENV');
  const other = writeConfig('grin:\n  directory: EXPLICIT\n', 'other.yaml');
  expect(loadConfig({ file: other, env: { GRIN_PIPELINE_CONFIG: file } }).grin.directory).toBe('EXPLICIT');
});

test('describeConfig shows where secrets come from, not the secrets, and hides URL passwords', () => {
  const config = loadConfig({
    env: {},
    overrides: {
      grin: { gpgPassphrase: { file: '/etc/grin/passphrase' }, accessToken: { env: 'GRIN_TOKEN' } },
      storage: {
        kind: 's3',
        bucket: 'books',
        endpoint: 'http://minio:s3cr3tpw@127.0.0.1:9000',
        accessKeyId: { env: 'KEY_ID' },
        secretAccessKey: { file: '/etc/grin/s3-secret' },
      },
    },
  });
  const summary = describeConfig(config);
  expect(summary).toContain('file /etc/grin/passphrase');
  expect(summary).toContain('environment variable GRIN_TOKEN');
  expect(summary).toContain('s3://books/');
  expect(summary).toContain('http://127.0.0.1:9000');
  expect(summary).not.toContain('s3cr3tpw');
  expect(summary.split('\n').length).toBeLessThanOrEqual(24);
});

test('config.example.yaml mentions every setting of the schema', () => {
  const text = fs.readFileSync(path.join(repoRoot, 'config.example.yaml'), 'utf8');
  const s3Keys = ['bucket', 'prefix', 'region', 'endpoint', 'forcePathStyle', 'checksums', 'accessKeyId', 'secretAccessKey'];
  const optionalGrinKeys = ['credentialsFile', 'clientSecretFile', 'accessToken'];
  const keys = new Set<string>([...s3Keys, ...optionalGrinKeys]);
  const collect = (value: unknown) => {
    if (typeof value !== 'object' || value === null) return;
    for (const [key, inner] of Object.entries(value)) {
      keys.add(key);
      if (!['gpgPassphrase'].includes(key)) collect(inner);
    }
  };
  collect(loadConfig({ env: {} }));
  const missing = [...keys].filter((key) => !new RegExp(`^[#\\s]*${key}:`, 'm').test(text) && !text.includes(`${key} /`));
  expect(missing).toEqual([]);
});

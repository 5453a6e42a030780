/**
 * The zod schema of the configuration file. Every field has a default, so an empty file (or none)
 * gives a complete configuration that runs the local demo. Objects are strict: a misspelt key is an
 * error, not a silently ignored setting. Messages are phrased as "expected ..." so that `load.ts` can
 * print `<dotted.key>: expected ..., got ...` lines.
 */
import { z } from 'zod';
import type { PipelineConfig } from './types';

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

export const DEFAULT_STORAGE_LAYOUT = {
  archive: 'raw/{barcode}/{barcode}.tar.gz',
  ocr: 'full/{barcode}/{barcode}_ocr.jsonl.gz',
  marc: 'meta/{barcode}/{barcode}_marc.json',
  token: 'meta/{barcode}/{barcode}.token.json',
} as const;

/** Field names that hold secret references: their values are never echoed in error messages. */
export const SECRET_REF_FIELDS: readonly string[] = ['gpgPassphrase', 'accessToken', 'accessKeyId', 'secretAccessKey', 'apiKey'];

const DIRECTORY_PATTERN = /^[A-Za-z0-9_-]+$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

function nonEmptyString(expected = 'a non-empty string') {
  const error = `expected ${expected}`;
  return z.string({ error }).min(1, { error });
}

function positiveInt(expected = 'a positive whole number') {
  const error = `expected ${expected}`;
  return z.number({ error }).int({ error }).positive({ error });
}

function nonNegativeInt(expected = 'a whole number, 0 or more') {
  const error = `expected ${expected}`;
  return z.number({ error }).int({ error }).nonnegative({ error });
}

function positiveNumber() {
  const error = 'expected a positive number';
  return z.number({ error }).positive({ error });
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function httpUrl() {
  const error = 'expected an http(s) URL, e.g. "https://example.org/path"';
  return z.string({ error }).refine(isHttpUrl, { error });
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: GIB,
  tib: 1024 ** 4,
};

/** Turns "20 GiB" / "500MB" into bytes; anything else passes through for the number check to judge. */
export function parseByteSize(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return value;
  const unit = SIZE_UNITS[(match[2] || 'b').toLowerCase()];
  return unit === undefined ? value : Math.round(Number(match[1]) * unit);
}

function byteSize() {
  return z.preprocess(parseByteSize, positiveInt('a positive number of bytes, or a size like "20 GiB"'));
}

/** `{file: path}` or `{env: NAME}`: where a secret lives, never the secret itself. */
export const SecretRefSchema = z
  .strictObject(
    {
      file: nonEmptyString('a file path').optional(),
      env: z
        .string({ error: 'expected an environment variable name' })
        .regex(ENV_NAME_PATTERN, { error: 'expected an environment variable name (letters, digits, _)' })
        .optional(),
    },
    { error: 'expected {file: <path>} or {env: <VARIABLE>} naming where the secret is (never the secret itself)' },
  )
  .refine((ref) => (ref.file === undefined) !== (ref.env === undefined), {
    error: 'expected exactly one of "file" or "env"',
  });

const TemporalTlsSchema = z
  .strictObject(
    {
      serverCaFile: nonEmptyString('a file path (PEM)').optional(),
      clientCertFile: nonEmptyString('a file path (PEM)').optional(),
      clientKeyFile: nonEmptyString('a file path (PEM)').optional(),
      serverName: nonEmptyString('a host name').optional(),
    },
    { error: 'expected true, false, or a mapping of serverCaFile, clientCertFile, clientKeyFile, serverName' },
  )
  .refine((tls) => (tls.clientCertFile === undefined) === (tls.clientKeyFile === undefined), {
    error: 'expected both clientCertFile and clientKeyFile (mTLS), or neither',
    path: ['clientCertFile'],
  });

const TemporalSchema = z
  .strictObject({
    address: nonEmptyString('host:port of the Temporal frontend').default('127.0.0.1:7233'),
    namespace: nonEmptyString().default('default'),
    tls: z
      .union([z.boolean(), TemporalTlsSchema], {
        error: 'expected true, false, or a mapping of serverCaFile, clientCertFile, clientKeyFile, serverName',
      })
      .optional(),
    apiKey: SecretRefSchema.optional(),
    grinTaskQueue: nonEmptyString().default('grin-pipeline-grin'),
    workflowTaskQueue: nonEmptyString().default('grin-pipeline'),
    fileTaskQueuePrefix: nonEmptyString().default('grin-pipeline-files'),
  })
  // An API key is a bearer secret: it never goes over a plaintext connection.
  .refine((t) => !(t.tls === false && t.apiKey !== undefined), {
    error: 'expected no "tls: false" with an apiKey (the key would travel in plaintext); remove tls: false, TLS is on with an API key',
    path: ['tls'],
  });

const GrinSchema = z.strictObject({
  baseUrl: httpUrl().default('https://books.google.com/libraries'),
  directory: z
    .string({ error: 'expected a library directory name such as "PRNC"' })
    .regex(DIRECTORY_PATTERN, { error: 'expected a library directory name of letters, digits, _ or - (e.g. "PRNC")' })
    .default('DEMO'),
  credentialsFile: nonEmptyString('a file path').optional(),
  clientSecretFile: nonEmptyString('a file path').optional(),
  tokenUri: httpUrl().default('https://oauth2.googleapis.com/token'),
  accessToken: SecretRefSchema.optional(),
  gpgPassphrase: SecretRefSchema.default({ env: 'GRIN_GPG_PASSPHRASE' }),
  rateLimitPerSecond: positiveNumber().default(5),
  pollIntervalSeconds: positiveNumber().default(300),
  timeouts: z
    .strictObject({
      requestSeconds: positiveNumber().default(60),
      connectSeconds: positiveNumber().default(10),
    })
    .prefault({}),
  /**
   * The slowest archive download that goes on: fewer bytes than `bytes` in any `windowSeconds` and
   * the body is cut and resumed with Range (a trickling body would otherwise never end). 0: no floor.
   */
  minDownloadRate: z
    .strictObject({
      bytes: z
        .preprocess(parseByteSize, nonNegativeInt('a number of bytes (0 for no floor), or a size like "256 KiB"'))
        .default(256 * 1024),
      windowSeconds: positiveNumber().default(60),
    })
    .prefault({}),
  /**
   * How many of this library's books may be at GRIN at once, across all batches: requested but not
   * yet downloaded (GRIN keeps ~5,000 converted packages and evicts the oldest), and requested but
   * not yet converted (GRIN's queue holds 50,000). A book over a cap waits before asking GRIN.
   */
  pacing: z
    .strictObject({
      maxRequestedNotDownloaded: positiveInt().default(5_000),
      maxInGrinQueue: positiveInt().default(50_000),
    })
    .prefault({}),
});

function keyTemplate() {
  const error = 'expected a relative key template containing {barcode}, e.g. "raw/{barcode}/{barcode}.tar.gz"';
  return z.string({ error }).refine((t) => t.includes('{barcode}') && !t.startsWith('/') && !t.split('/').includes('..'), { error });
}

const StorageLayoutSchema = z
  .strictObject({
    archive: keyTemplate().default(DEFAULT_STORAGE_LAYOUT.archive),
    ocr: keyTemplate().default(DEFAULT_STORAGE_LAYOUT.ocr),
    marc: keyTemplate().default(DEFAULT_STORAGE_LAYOUT.marc),
    token: keyTemplate().default(DEFAULT_STORAGE_LAYOUT.token),
  })
  .prefault({});

const LocalStorageSchema = z.strictObject({
  kind: z.literal('local'),
  path: nonEmptyString('a folder path').default('data/storage'),
  layout: StorageLayoutSchema,
});

const S3StorageSchema = z
  .strictObject({
    kind: z.literal('s3'),
    bucket: nonEmptyString('the S3 bucket name'),
    prefix: z.string({ error: 'expected a key prefix (may be empty)' }).default(''),
    region: nonEmptyString('an AWS region such as "us-east-1" (R2: "auto")').default('us-east-1'),
    endpoint: httpUrl().optional(),
    forcePathStyle: z.boolean({ error: 'expected true or false' }).default(false),
    checksums: z
      .enum(['when_supported', 'when_required'], { error: 'expected "when_supported" or "when_required"' })
      // when_required works on every S3 server we know of (AWS, MinIO, moto, rclone, R2); uploads
      // are verified by MD5 either way (Content-MD5, part ETags), so nothing is lost by it.
      .default('when_required'),
    accessKeyId: SecretRefSchema.optional(),
    secretAccessKey: SecretRefSchema.optional(),
    layout: StorageLayoutSchema,
  })
  .refine((s3) => (s3.accessKeyId === undefined) === (s3.secretAccessKey === undefined), {
    error: 'expected both accessKeyId and secretAccessKey, or neither (then the usual AWS sources are used)',
    path: ['accessKeyId'],
  });

const StorageSchema = z
  .discriminatedUnion('kind', [LocalStorageSchema, S3StorageSchema], {
    error: 'expected kind "local" or "s3"',
  })
  .prefault({ kind: 'local' });

const LimitsSchema = z
  .strictObject({
    maxUnpackedBytes: byteSize().default(20 * GIB),
    maxEntries: positiveInt().default(200_000),
    // Decompression bombs: unpacked bytes per compressed byte read so far, checked as the archive
    // streams once more than expansionCheckAfterBytes are unpacked (small text-only archives pass).
    // A real book is mostly JPEG 2000 images, which gzip cannot shrink: its ratio is close to 1.
    maxExpansionRatio: z
      .number({ error: 'expected a number of at least 1, e.g. 50' })
      .gte(1, { error: 'expected a number of at least 1, e.g. 50' })
      .default(50),
    expansionCheckAfterBytes: byteSize().default(64 * MIB),
    diskUsageThreshold: z
      .number({ error: 'expected a fraction in (0, 1], e.g. 0.9' })
      .gt(0, { error: 'expected a fraction in (0, 1], e.g. 0.9' })
      .lte(1, { error: 'expected a fraction in (0, 1], e.g. 0.9' })
      .default(0.9),
    // A book's encrypted archive size assumed for disk admission until this host has seen one
    // (src/activities/disk-space.ts DiskBudget: a book needs about 3 times its archive at its peak).
    archiveBytesEstimate: byteSize().default(256 * MIB),
  })
  .prefault({});

/** The limits with every default: the one set used by the pipeline and by `unpack` alike. */
export const DEFAULT_LIMITS: Readonly<z.output<typeof LimitsSchema>> = Object.freeze(LimitsSchema.parse({}));

/** Books a host holds beyond its file slots, so a slot freed by one book finds the next one's stage ready. */
export const BOOKS_ON_HOST_OVER_FILE_ACTIVITIES = 2;

/**
 * Workflows a worker keeps in memory. The SDK's default is sized from the heap (~2,300 here), so a
 * window of 2,000 books kept every waiting book resident and the worker passed 1 GB at 10,000 books;
 * a waiting book evicted from the cache costs one replay of its short history when it wakes.
 */
export const DEFAULT_CACHED_WORKFLOWS = 500;

const ConcurrencySchema = z
  .strictObject({
    batchWindow: positiveInt().default(2000),
    grinActivities: positiveInt().default(4),
    fileActivities: positiveInt().default(4),
    /** Default: fileActivities + 2 (why, and figures: docs/benchmarks.md, depth first). */
    booksOnHost: positiveInt().optional(),
    uploadParts: positiveInt().default(4),
    /** Book workflows kept in the worker's memory (the rest are replayed from history when they next act). */
    cachedWorkflows: z.number().int().min(2).default(DEFAULT_CACHED_WORKFLOWS),
  })
  .transform((c) => ({ ...c, booksOnHost: c.booksOnHost ?? c.fileActivities + BOOKS_ON_HOST_OVER_FILE_ACTIVITIES }))
  .prefault({});

const TimeoutsSchema = z
  .strictObject({
    hostPickupSeconds: positiveInt().default(600),
    heartbeatSeconds: positiveInt().default(120),
    fileStageMaxDays: z
      .number({ error: 'expected a number of days, 0 or more (0 = no limit)' })
      .nonnegative({ error: 'expected a number of days, 0 or more (0 = no limit)' })
      .default(0),
    conversionWaitDays: positiveNumber().default(30),
    grinRetryMaxSeconds: positiveInt().default(1800),
    fileRetryMaxSeconds: positiveInt().default(300),
    batchReconcileSeconds: positiveInt().default(300),
  })
  .prefault({});

const LoggingSchema = z
  .strictObject({
    level: z.enum(['debug', 'info', 'warn', 'error'], { error: 'expected "debug", "info", "warn" or "error"' }).default('info'),
    format: z.enum(['auto', 'json', 'pretty'], { error: 'expected "auto", "json" or "pretty"' }).default('auto'),
    perStageFiles: z.boolean({ error: 'expected true or false' }).default(false),
  })
  .prefault({});

const MetricsSchema = z
  .strictObject({
    port: z
      .number({ error: 'expected a TCP port (1-65535), or 0 for no metrics' })
      .int({ error: 'expected a TCP port (1-65535), or 0 for no metrics' })
      .min(0, { error: 'expected a TCP port (1-65535), or 0 for no metrics' })
      .max(65535, { error: 'expected a TCP port (1-65535), or 0 for no metrics' })
      .default(0),
    host: nonEmptyString('an address to listen on, e.g. "0.0.0.0" or "127.0.0.1"').default('0.0.0.0'),
    stallCheckSeconds: nonNegativeInt('a whole number of seconds between stall checks, 0 for none').default(60),
    queueStallSeconds: positiveInt('a whole number of seconds, at least 1').default(300),
    bookStallMinutes: positiveInt('a whole number of minutes, at least 1').default(30),
    conversionStallHours: positiveInt('a whole number of hours, at least 1').default(96),
  })
  .prefault({});

const NotifySchema = z
  .strictObject({
    webhook: httpUrl().optional(),
    mailTo: z.array(nonEmptyString('an e-mail address'), { error: 'expected a list of e-mail addresses' }).default([]),
    sendmail: nonEmptyString('the path of a sendmail program').default('sendmail'),
    parkWindowSeconds: positiveInt('a whole number of seconds, at least 1').default(300),
  })
  .prefault({});

export const PipelineConfigSchema = z.strictObject(
  {
    temporal: TemporalSchema.prefault({}),
    grin: GrinSchema.prefault({}),
    pipelineDir: nonEmptyString('a folder path').default('data/pipeline'),
    processingDir: nonEmptyString('a folder path').default('data/processing'),
    retentionDays: nonNegativeInt('a whole number of days, 0 or more').default(0),
    storage: StorageSchema,
    limits: LimitsSchema,
    concurrency: ConcurrencySchema,
    timeouts: TimeoutsSchema,
    logging: LoggingSchema,
    metrics: MetricsSchema,
    notify: NotifySchema,
  },
  { error: 'expected a mapping of settings (key: value lines)' },
);

// Compile-time guard: the schema's output is exactly the shared contract, in both directions.
type SchemaOutput = z.output<typeof PipelineConfigSchema>;
const _schemaMatchesContract: (c: SchemaOutput) => PipelineConfig = (c) => c;
const _contractMatchesSchema: (c: PipelineConfig) => SchemaOutput = (c) => c;
void _schemaMatchesContract;
void _contractMatchesSchema;

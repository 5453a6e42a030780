/**
 * The validated configuration every part of the pipeline reads. The YAML file, the embedded defaults
 * and environment overrides all resolve to this shape (see `load.ts`, `schema.ts`).
 * Secrets are never values here: only the file path or environment variable that holds them.
 */

export interface SecretRef {
  /** Read the secret from this file (trailing newline stripped). */
  file?: string;
  /** Or from this environment variable. */
  env?: string;
}

/** TLS towards the Temporal frontend; any of these turns TLS on. */
export interface TemporalTlsConfig {
  /** CA certificate (PEM) the server's certificate must chain to; default: the system's CAs. */
  serverCaFile?: string;
  /** Client certificate and its private key (PEM), for servers that require mTLS; both or neither. */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** Host name the server's certificate is checked against (and sent as SNI), when not the address's host. */
  serverName?: string;
}

export interface TemporalConfig {
  /** host:port of the Temporal frontend, e.g. `127.0.0.1:7233`. */
  address: string;
  namespace: string;
  /**
   * Unset: TLS exactly when an API key is set. `true` or a mapping: TLS. `false`: plaintext, and
   * then no API key is allowed (it would travel in the clear).
   */
  tls?: boolean | TemporalTlsConfig;
  /** API key (Temporal Cloud and clusters with API-key auth), sent as a bearer token over TLS. */
  apiKey?: SecretRef;
  /** Task queue for GRIN calls (shared by all workers; rate-limited server-side). */
  grinTaskQueue: string;
  /** Task queue for workflows and board bookkeeping activities. */
  workflowTaskQueue: string;
  /** Prefix of the per-host file-stage task queues (`<prefix>-<hostId>`). */
  fileTaskQueuePrefix: string;
}

export interface GrinConfig {
  /** Default `https://books.google.com/libraries`. */
  baseUrl: string;
  /** Library directory, case-sensitive, e.g. `PRNC`. */
  directory: string;
  /** OAuth: installed-app client JSON + stored credentials (access/refresh token). */
  credentialsFile?: string;
  clientSecretFile?: string;
  /** OAuth token endpoint (Google's by default; the simulator's in tests). */
  tokenUri: string;
  /** A fixed bearer token instead of OAuth (simulator, tests). */
  accessToken?: SecretRef;
  gpgPassphrase: SecretRef;
  /** GRIN requests per second across all workers. */
  rateLimitPerSecond: number;
  /** How often waiting books look at `_converted`, in seconds. */
  pollIntervalSeconds: number;
  timeouts: { requestSeconds: number; connectSeconds: number };
  /** An archive download slower than `bytes` per `windowSeconds` is cut and resumed with Range (bytes 0: no floor). */
  minDownloadRate: { bytes: number; windowSeconds: number };
  /** Caps on this library's books at GRIN, across all batches (a book over a cap waits to be requested). */
  pacing: { maxRequestedNotDownloaded: number; maxInGrinQueue: number };
}

export type StorageConfig =
  | { kind: 'local'; path: string; layout: StorageLayout }
  | {
      kind: 's3';
      bucket: string;
      prefix: string;
      region: string;
      endpoint?: string;
      forcePathStyle: boolean;
      /**
       * `when_required` (default) sends plain uploads with Content-Length and Content-MD5, which every
       * S3-compatible server takes; `when_supported` adds the SDK's streamed CRC32 checksums (AWS, MinIO).
       */
      checksums: 'when_supported' | 'when_required';
      /** Optional explicit credentials; otherwise the AWS SDK's usual sources. */
      accessKeyId?: SecretRef;
      secretAccessKey?: SecretRef;
      layout: StorageLayout;
    };

/** Key templates; `{barcode}` is replaced. */
export interface StorageLayout {
  archive: string;
  ocr: string;
  marc: string;
  token: string;
}

export interface LimitsConfig {
  /** Refuse archives that unpack to more than this many bytes. */
  maxUnpackedBytes: number;
  maxEntries: number;
  /** Refuse an archive once it unpacks to more than this many bytes per compressed byte read so far… */
  maxExpansionRatio: number;
  /** …checked only once more than this many bytes are unpacked (small, text-heavy archives pass). */
  expansionCheckAfterBytes: number;
  /** Pause downloads while the processing disk is fuller than this fraction. */
  diskUsageThreshold: number;
  /**
   * Encrypted archive size assumed for a book before this host has downloaded one: a host admits a
   * new book only while its disk can carry about 3 times the largest archive seen (or this) per book.
   */
  archiveBytesEstimate: number;
}

export interface ConcurrencyConfig {
  /** Books in flight per batch (sliding window). */
  batchWindow: number;
  grinActivities: number;
  fileActivities: number;
  /**
   * Books a host holds at most, from taking one off the shared file queue to its clean-up: a host
   * takes a new book only while it holds fewer, so its local disk holds at most this many books.
   */
  booksOnHost: number;
  /** Parallel parts per multipart upload. */
  uploadParts: number;
  /** Workflows the worker keeps in memory; the others replay from history when they next act (memory vs CPU). */
  cachedWorkflows: number;
}

/**
 * How long the workflows wait before deciding something is lost or hopeless. Each book's workflow
 * takes these when it starts (they are fixed per run; see docs/workflow-changes.md).
 */
export interface TimeoutsConfig {
  /** A host that has not picked up a book's file stage in this long is presumed gone; the book moves. */
  hostPickupSeconds: number;
  /** A file stage that has not heartbeated in this long is presumed dead (its host crashed). */
  heartbeatSeconds: number;
  /** Park a book whose file stage keeps failing transiently for this many days; 0 = retry forever. */
  fileStageMaxDays: number;
  /** Park a book GRIN has not converted after this many days. */
  conversionWaitDays: number;
  /** Longest wait between two attempts of a GRIN call that keeps failing (backoff doubles up to this). */
  grinRetryMaxSeconds: number;
  /** Longest wait between two attempts of a file stage that keeps failing (S3 down, disk full, ...). */
  fileRetryMaxSeconds: number;
  /** How often a batch asks Temporal about books whose news it has not heard (a lost signal costs at most this). */
  batchReconcileSeconds: number;
}

export interface LoggingConfig {
  /** Least severe entries written. Default: info. */
  level: 'debug' | 'info' | 'warn' | 'error';
  /** `auto`: JSON lines unless standard error is a terminal. */
  format: 'auto' | 'json' | 'pretty';
  /** Also write entries that name a stage to `<pipelineDir>/logs/<stage>.log`. Default: false. */
  perStageFiles: boolean;
}

export interface MetricsConfig {
  /** Prometheus endpoint port on each worker (`/metrics`); 0 (default): no metrics. */
  port: number;
  host: string;
  /** Seconds between the worker's stall checks (log line, metric); 0: no checks. Default 60. */
  stallCheckSeconds: number;
  /**
   * A pipeline queue with tasks waiting and no poll for this long is stalled. Default 300. A worker
   * whose every slot stays busy for this long does not poll either, and reads as a stall too.
   */
  queueStallSeconds: number;
  /** A book in a file stage with no token change or heartbeat for this long is stalled. Default 30. */
  bookStallMinutes: number;
  /** A requested book GRIN has not converted after this long is stalled. Default 96 (GRIN may take days). */
  conversionStallHours: number;
}

export interface NotifyConfig {
  /** POST a JSON message here on each event; none by default. Treated as a secret: never logged. */
  webhook?: string;
  /** Mail each event to these addresses through the host's sendmail; none by default. */
  mailTo: string[];
  /** The sendmail program (`-t -oi`, message on standard input). Default: "sendmail" on PATH. */
  sendmail: string;
  /** Parks within this many seconds go out as one message. Default 300. */
  parkWindowSeconds: number;
}

export interface PipelineConfig {
  temporal: TemporalConfig;
  grin: GrinConfig;
  /** The board: bucket folders live here. */
  pipelineDir: string;
  /** Local working space for archives being processed. */
  processingDir: string;
  /** Days to keep finished books' local files in `<processingDir>/processed`; 0 deletes at once. */
  retentionDays: number;
  storage: StorageConfig;
  limits: LimitsConfig;
  concurrency: ConcurrencyConfig;
  timeouts: TimeoutsConfig;
  logging: LoggingConfig;
  metrics: MetricsConfig;
  /** Notifications (batch finished, books parked, stalls): best effort, never holds a book back. */
  notify: NotifyConfig;
}

/**
 * The pipeline's stage vocabulary, written once: the buckets in order, the stages between them, the
 * buckets whose next stage runs on the host that holds the book's files, and every activity with the
 * stage it belongs to and the buckets its success moves a book into. The board, the workflows, logs,
 * metrics and reports derive what they need from here. Pure data (no Node built-ins): workflow code
 * imports it too.
 */

/** Buckets in pipeline order; a book's token lives in exactly one of them (or in a side bucket). */
export const STAGE_BUCKETS = [
  '00_available',
  '01_requested',
  '02_converted',
  '03_downloaded',
  '04_decrypted',
  '05_extracted',
  '06_processed',
  '07_stored',
] as const;

/** Buckets outside the happy path: parked for an operator, or given up by one. */
export const SIDE_BUCKETS = ['failed', 'cancelled'] as const;

export const BUCKETS = [...STAGE_BUCKETS, ...SIDE_BUCKETS] as const;

export type StageBucket = (typeof STAGE_BUCKETS)[number];
export type SideBucket = (typeof SIDE_BUCKETS)[number];
export type Bucket = (typeof BUCKETS)[number];

export function isBucket(name: string): name is Bucket {
  return (BUCKETS as readonly string[]).includes(name);
}

/** Each stage by the bucket it ends in: its name (logs, metrics) and the bucket it takes a book from. */
export const STAGE_ENDING_IN = {
  '01_requested': { stage: 'request', from: '00_available' },
  '02_converted': { stage: 'convert', from: '01_requested' },
  '03_downloaded': { stage: 'download', from: '02_converted' },
  '04_decrypted': { stage: 'decrypt', from: '03_downloaded' },
  '05_extracted': { stage: 'extract', from: '04_decrypted' },
  '06_processed': { stage: 'process', from: '05_extracted' },
  '07_stored': { stage: 'store', from: '06_processed' },
} as const satisfies Record<Exclude<StageBucket, '00_available'>, { stage: string; from: StageBucket }>;

export type StageName = (typeof STAGE_ENDING_IN)[keyof typeof STAGE_ENDING_IN]['stage'];

/** The stage that ends in `bucket`, if a stage does (not `00_available` nor a side bucket). */
export function stageEndingIn(bucket: Bucket): { stage: StageName; from: StageBucket } | undefined {
  return Object.hasOwn(STAGE_ENDING_IN, bucket) ? STAGE_ENDING_IN[bucket as keyof typeof STAGE_ENDING_IN] : undefined;
}

/** `bucket → next bucket`, or the bucket alone at the end of the line or outside it. */
export function nextStageBucket(bucket: Bucket): StageBucket | undefined {
  return STAGE_BUCKETS.find((b) => stageEndingIn(b)?.from === bucket);
}

/**
 * Buckets in which a book's next stage runs on the host its token names. Not `02_converted`: there
 * the book's next task is a download on the shared queue (a new book for whichever host takes it).
 */
export const ON_HOST_BUCKETS = ['03_downloaded', '04_decrypted', '05_extracted', '06_processed'] as const satisfies readonly StageBucket[];

export function isOnHostBucket(bucket: string): boolean {
  return (ON_HOST_BUCKETS as readonly string[]).includes(bucket);
}

interface ActivityFacts {
  /** The stage its work belongs to (the log's `stage` field, per-stage log files). */
  stage?: StageName;
  /** The buckets a successful run has moved the book into, in order (metrics count books entering). */
  enters?: readonly Bucket[];
  /** The archive bytes its result reports (`bytes`), for the transfer metrics. */
  bytes?: 'downloaded' | 'uploaded';
  /** Its failures may be book-wide waits: what the book waits for shows on its token (activities/waiting.ts). */
  waits?: true;
}

/**
 * Every activity the workers register, by name (activities/index.ts checks at compile time that the
 * names are exactly those of the activity groups). Joined stages (activities/joined-stages.ts) are
 * named by the stage they start with.
 */
export const ACTIVITIES = {
  // Board bookkeeping on the workflow queue.
  registerBook: {},
  rebuildToken: {},
  markConverted: { stage: 'convert', enters: ['02_converted'] },
  parkBook: { enters: ['failed'] },
  unparkBook: {},
  rewindBook: {},
  cancelBook: { enters: ['cancelled'] },
  readBatchBarcodes: {},
  notifyBatch: {},
  settledBooks: {},
  writeBatchReport: {},
  sendBatchNotification: {},
  // GRIN.
  requestConversion: { stage: 'request', enters: ['01_requested'], waits: true },
  waitForConversion: { stage: 'convert', enters: ['02_converted'], waits: true },
  watchConversions: { stage: 'convert' },
  checkArchive: { stage: 'download', waits: true },
  // File stages.
  claimFileHost: { stage: 'download' },
  fetchArchive: { stage: 'download', enters: ['03_downloaded'], bytes: 'downloaded', waits: true },
  downloadArchive: { stage: 'download', enters: ['03_downloaded'], bytes: 'downloaded', waits: true },
  decryptArchive: { stage: 'decrypt', enters: ['04_decrypted'], waits: true },
  extractArchive: { stage: 'extract', enters: ['05_extracted'], waits: true },
  processBook: { stage: 'process', enters: ['06_processed'], waits: true },
  extractAndProcess: { stage: 'extract', enters: ['05_extracted', '06_processed'], waits: true },
  uploadBook: { stage: 'store', bytes: 'uploaded', waits: true },
  // The clean-up moves the token to 07_stored once the upload is verified and local files are gone.
  cleanupBook: { stage: 'store', enters: ['07_stored'], waits: true },
  storeBook: { stage: 'store', enters: ['07_stored'], bytes: 'uploaded', waits: true },
  findLocalProgress: { waits: true },
  discardLocalFiles: { waits: true },
} as const satisfies Record<string, ActivityFacts>;

export type ActivityName = keyof typeof ACTIVITIES;

/** What the table says of the activity named `name` (as the SDK reports it), if it is one of ours. */
export function activityFacts(name: string): ActivityFacts | undefined {
  return Object.hasOwn(ACTIVITIES, name) ? (ACTIVITIES[name as ActivityName] as ActivityFacts) : undefined;
}

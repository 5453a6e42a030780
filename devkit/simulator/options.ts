/** The simulator's options, their defaults, and checks that name any bad value. */
import type { FaultConfig } from './faults';
import type { BookState, InitialStateMix } from './inventory';
import type { ListingStyle } from './listings';
import type { OAuthClientConfig } from './oauth';
import { MIN_PAGE_IMAGE_BYTES } from './book-content';

export interface SimulatorOptions {
  /** Library directory (case-sensitive), default 'TEST'. */
  directory?: string;
  /** Generated books (`39999` + 9 digits), default 100, or 0 when `barcodes` is given. */
  books?: number;
  /** Explicit barcodes, added after the generated ones. */
  barcodes?: string[];
  seed?: number;
  /** GPG passphrase of the library, default 'simulator-passphrase'. */
  passphrase?: string;
  /** Static bearer tokens GRIN accepts (default ['sim-token']). */
  accessTokens?: string[];
  /** Bearer tokens that are valid but not allowed on the directory (403). */
  forbiddenTokens?: string[];
  /** Directories that answer 403 to everyone (any directory other than `directory` does too). */
  forbiddenDirectories?: string[];
  /** Clients of the token endpoint (default one: sim-client-id / sim-client-secret / sim-refresh-token). */
  oauthClients?: OAuthClientConfig[];
  /** Lifetime of issued access tokens in wall seconds (real time plus `advance()`), default 3600. */
  tokenLifetimeSeconds?: number;
  pages?: { min: number; max: number };
  /** Page counts of particular barcodes, overriding `pages`. */
  bookPages?: Record<string, number>;
  pageImageBytes?: number;
  /** 'all-available' (default): NEW, PREVIOUSLY_DOWNLOADED or CONVERTED; 'mixed': PROTOCOL §1.1's distribution; 'all-new'. */
  initialState?: InitialStateMix;
  /** Starting states of particular barcodes, overriding the mix. */
  initialStates?: Record<string, BookState>;
  /** Simulated seconds from `_process` to CONVERTED, default 60. */
  conversionDelaySeconds?: number;
  conversionFailureRate?: number;
  /** Barcodes whose conversions fail (listed in `_failed`). */
  failConversion?: string[];
  /** Conversion queue size at which `_process` answers 429, default 50,000. */
  queueCap?: number;
  /** Conversions completed per simulated day, default 5,000. */
  conversionsPerDay?: number;
  /** Converted pool size; the oldest package is evicted beyond it, default 5,000. */
  poolCap?: number;
  /** Simulated seconds per real second, default 1 (1440 = a day in a minute). */
  clockSpeed?: number;
  /** Simulated time at start (default: now). */
  startTime?: Date;
  /** Where archives are cached and the passphrase file is written (default: a temp dir removed on close). */
  dataDir?: string;
  filenamePrefix?: boolean;
  /** HTML page size when `result_count` is not given, default 100. */
  htmlPageSize?: number;
  htmlPaging?: ListingStyle['htmlPaging'];
  nextHref?: ListingStyle['nextHref'];
  allBooksTextLayout?: ListingStyle['allBooksTextLayout'];
  faults?: FaultConfig;
  /** Archives generated at once (default 2). */
  archiveConcurrency?: number;
  /** Entries kept in the request log (default 200,000). */
  requestLogLimit?: number;
  /** Serve the control endpoint `/_simulator/...` (run-time fault switches, book views, stats); default off. */
  control?: boolean;
  port?: number;
  host?: string;
}

export type ResolvedOptions = Required<Omit<SimulatorOptions, 'startTime' | 'dataDir' | 'port' | 'host' | 'faults'>> &
  Pick<SimulatorOptions, 'startTime' | 'dataDir'> & { port: number; host: string; faults: FaultConfig };

export const DEFAULT_OAUTH_CLIENT: OAuthClientConfig = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  refreshToken: 'sim-refresh-token',
};

const DIRECTORY_PATTERN = /^[A-Za-z0-9_-]+$/;

function positiveInt(name: string, value: number, allowZero = false): number {
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1))
    throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${value}`);
  return value;
}

export function resolveOptions(opts: SimulatorOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = {
    directory: opts.directory ?? 'TEST',
    books: opts.books ?? (opts.barcodes?.length ? 0 : 100),
    barcodes: opts.barcodes ?? [],
    seed: opts.seed ?? 1,
    passphrase: opts.passphrase ?? 'simulator-passphrase',
    accessTokens: opts.accessTokens ?? ['sim-token'],
    forbiddenTokens: opts.forbiddenTokens ?? [],
    forbiddenDirectories: opts.forbiddenDirectories ?? [],
    oauthClients: opts.oauthClients ?? [DEFAULT_OAUTH_CLIENT],
    tokenLifetimeSeconds: opts.tokenLifetimeSeconds ?? 3600,
    pages: opts.pages ?? { min: 8, max: 24 },
    bookPages: opts.bookPages ?? {},
    pageImageBytes: opts.pageImageBytes ?? 96 * 1024,
    initialState: opts.initialState ?? 'all-available',
    initialStates: opts.initialStates ?? {},
    conversionDelaySeconds: opts.conversionDelaySeconds ?? 60,
    conversionFailureRate: opts.conversionFailureRate ?? 0,
    failConversion: opts.failConversion ?? [],
    queueCap: opts.queueCap ?? 50_000,
    conversionsPerDay: opts.conversionsPerDay ?? 5_000,
    poolCap: opts.poolCap ?? 5_000,
    clockSpeed: opts.clockSpeed ?? 1,
    startTime: opts.startTime,
    dataDir: opts.dataDir,
    filenamePrefix: opts.filenamePrefix ?? false,
    htmlPageSize: opts.htmlPageSize ?? 100,
    htmlPaging: opts.htmlPaging ?? 'first',
    nextHref: opts.nextHref ?? 'relative',
    allBooksTextLayout: opts.allBooksTextLayout ?? 'pul7',
    faults: opts.faults ?? {},
    archiveConcurrency: opts.archiveConcurrency ?? 2,
    requestLogLimit: opts.requestLogLimit ?? 200_000,
    control: opts.control ?? false,
    port: opts.port ?? 0,
    host: opts.host ?? '127.0.0.1',
  };
  if (!DIRECTORY_PATTERN.test(resolved.directory))
    throw new Error(`directory "${resolved.directory}" may only hold A-Z, a-z, 0-9, _ and -`);
  positiveInt('books', resolved.books, true);
  if (resolved.books + resolved.barcodes.length === 0) throw new Error('the library is empty: give books > 0 or some barcodes');
  if (!resolved.passphrase) throw new Error('passphrase must not be empty');
  positiveInt('pages.min', resolved.pages.min);
  positiveInt('pages.max', resolved.pages.max);
  if (resolved.pages.max < resolved.pages.min)
    throw new Error(`pages.max (${resolved.pages.max}) is below pages.min (${resolved.pages.min})`);
  if (!Number.isInteger(resolved.pageImageBytes) || resolved.pageImageBytes < MIN_PAGE_IMAGE_BYTES) {
    throw new Error(`pageImageBytes must be an integer of at least ${MIN_PAGE_IMAGE_BYTES}, got ${resolved.pageImageBytes}`);
  }
  positiveInt('htmlPageSize', resolved.htmlPageSize);
  positiveInt('archiveConcurrency', resolved.archiveConcurrency);
  positiveInt('port', resolved.port, true);
  if (!['mixed', 'all-available', 'all-new'].includes(resolved.initialState)) {
    throw new Error(`initialState must be mixed, all-available or all-new, got "${resolved.initialState}"`);
  }
  if (!['first', 'ctoken'].includes(resolved.htmlPaging))
    throw new Error(`htmlPaging must be first or ctoken, got "${resolved.htmlPaging}"`);
  if (!['relative', 'absolute-path'].includes(resolved.nextHref))
    throw new Error(`nextHref must be relative or absolute-path, got "${resolved.nextHref}"`);
  if (!['pul7', 'gt9'].includes(resolved.allBooksTextLayout))
    throw new Error(`allBooksTextLayout must be pul7 or gt9, got "${resolved.allBooksTextLayout}"`);
  return resolved;
}

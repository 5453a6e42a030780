/**
 * A GRIN simulator: an HTTP server on 127.0.0.1 that behaves like Google's GRIN as
 * ../shared/grin/PROTOCOL.md records it, for tests, the demo and benchmarks.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArchiveStore, type ArchiveInfo } from './archives';
import { SimClock } from './clock';
import { FaultInjector, type FaultConfig } from './faults';
import { createInventory, type BookState, type ConversionFailure } from './inventory';
import { archiveFilename, type ListingStyle } from './listings';
import { TokenAuthority, type OAuthClientConfig } from './oauth';
import { resolveOptions, type SimulatorOptions } from './options';
import { RequestLog, type RequestLogEntry } from './request-log';
import { createRequestHandler } from './server';
import { CONTROL_PREFIX, createControlHandler } from './control';
import { Library, type LibraryStats } from './state';

export type { SimulatorOptions } from './options';
export type { FaultConfig, FaultRule, FaultSwitch, FaultName } from './faults';
export { FAULT_SWITCHES, validateFaultConfig } from './faults';
export type { RequestLogEntry } from './request-log';
export type { BookState } from './inventory';
export type { OAuthClientConfig } from './oauth';
export type { ArchiveInfo } from './archives';
export type { SimulatorControlStats } from './control';
export type { LibraryStats } from './state';
export { PROCESS_STATUS } from './state';

export interface SimBookView {
  barcode: string;
  title: string;
  state: BookState;
  /** The package is downloadable now (HEAD/GET 200). */
  inPool: boolean;
  inProcess: boolean;
  /** File name as `_converted` lists it. */
  filename: string;
  pages: number;
  conversions: number;
  /** ETag (without quotes) of the current package, once it has been generated. */
  etag?: string;
  size?: number;
  requestedAt?: Date;
  failure?: { date: Date; info: string; detailedInfo: string };
  dates: { checkIn?: Date; scanned?: Date; processed?: Date; analyzed?: Date; ocrd?: Date; converted?: Date; downloaded?: Date };
}

export interface RunningSimulator {
  /** GRIN base URL, e.g. http://127.0.0.1:PORT/libraries (clients append `/<DIR>/...`). */
  baseUrl: string;
  /** OAuth token endpoint on this server. */
  tokenUri: string;
  directory: string;
  passphrase: string;
  /** File holding the passphrase (mode 0600), for configs that read it from a file. */
  passphraseFile: string;
  barcodes: string[];
  /** Accepted static bearer tokens. */
  accessTokens: string[];
  oauthClients: OAuthClientConfig[];
  dataDir: string;
  requestLog: RequestLogEntry[];
  book(barcode: string): SimBookView;
  /** The book's current package, generated if needed; null when it is not in the pool. */
  archive(barcode: string): Promise<ArchiveInfo | null>;
  stats(): LibraryStats & { tokensIssued: number };
  setFaults(faults: Partial<FaultConfig>): void;
  /** Moves the simulated clock (and token expiry) forward. */
  advance(simSeconds: number): void;
  /** Simulated now. */
  now(): Date;
  close(): Promise<void>;
}

const toDate = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms));

function viewOf(barcode: string, ctx: { library: Library; archives: ArchiveStore; style: ListingStyle }): SimBookView {
  const book = ctx.library.get(barcode);
  if (!book) throw new Error(`barcode "${barcode}" is not in the simulated library`);
  const archive = book.inPool ? ctx.archives.peek(barcode, book.conversions) : undefined;
  const failure: ConversionFailure | undefined = book.failure;
  return {
    barcode,
    title: book.title,
    state: book.state,
    inPool: book.inPool,
    inProcess: book.state === 'IN_PROCESS',
    filename: archiveFilename(ctx.style, barcode),
    pages: book.pages,
    conversions: book.conversions,
    etag: archive?.etag,
    size: archive?.size,
    requestedAt: toDate(book.requestedAt),
    failure: failure && { date: new Date(failure.date), info: failure.info, detailedInfo: failure.detailedInfo },
    dates: {
      checkIn: toDate(book.checkInDate),
      scanned: toDate(book.scannedDate),
      processed: toDate(book.processedDate),
      analyzed: toDate(book.analyzedDate),
      ocrd: toDate(book.ocrdDate),
      converted: toDate(book.convertedDate),
      downloaded: toDate(book.downloadedDate),
    },
  };
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const opts = resolveOptions(options);
  const clock = new SimClock(opts.clockSpeed, opts.startTime);
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'grin-sim-'));
  mkdirSync(dataDir, { recursive: true });
  const passphraseFile = join(dataDir, 'passphrase.txt');
  writeFileSync(passphraseFile, opts.passphrase + '\n', { mode: 0o600 });

  const faults = new FaultInjector(opts.seed, opts.faults);
  const style: ListingStyle = {
    directory: opts.directory,
    filenamePrefix: opts.filenamePrefix,
    allBooksTextLayout: opts.allBooksTextLayout,
    htmlPageSize: opts.htmlPageSize,
    htmlPaging: opts.htmlPaging,
    nextHref: opts.nextHref,
  };
  const archives = new ArchiveStore(
    {
      dataDir,
      directory: opts.directory,
      seed: opts.seed,
      passphrase: opts.passphrase,
      pageImageBytes: opts.pageImageBytes,
      concurrency: opts.archiveConcurrency,
    },
    faults,
  );
  const catalogue = createInventory({
    seed: opts.seed,
    books: opts.books,
    barcodes: opts.barcodes,
    initialState: opts.initialState,
    initialStates: opts.initialStates,
    pages: opts.pages,
    bookPages: opts.bookPages,
    now: clock.now(),
    conversionDelaySeconds: opts.conversionDelaySeconds,
  });
  const library = new Library(
    catalogue,
    {
      queueCap: opts.queueCap,
      conversionDelaySeconds: opts.conversionDelaySeconds,
      conversionsPerDay: opts.conversionsPerDay,
      poolCap: opts.poolCap,
      conversionFailureRate: opts.conversionFailureRate,
      failConversion: opts.failConversion,
      seed: opts.seed,
      clockStart: clock.startedAt(),
    },
    { packageGone: (barcode, conversion) => archives.forget(barcode, conversion) },
  );
  const tokens = new TokenAuthority(opts.accessTokens, opts.forbiddenTokens, opts.oauthClients, opts.tokenLifetimeSeconds, () =>
    clock.wallNow(),
  );
  const log = new RequestLog(opts.requestLogLimit);
  const grin = createRequestHandler({
    directory: opts.directory,
    forbiddenDirectories: opts.forbiddenDirectories,
    style,
    library,
    archives,
    faults,
    tokens,
    clock,
    log,
  });
  let control: ReturnType<typeof createControlHandler> | undefined; // set below, once the simulator's API exists
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) =>
    control && req.url?.startsWith(CONTROL_PREFIX) ? control(req, res) : grin(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as { port: number };
  const origin = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  const ctx = { library, archives, style };
  let closed = false;

  const running: RunningSimulator = {
    baseUrl: `${origin}/libraries`,
    tokenUri: `${origin}/token`,
    directory: opts.directory,
    passphrase: opts.passphrase,
    passphraseFile,
    barcodes: catalogue.map((b) => b.barcode),
    accessTokens: [...opts.accessTokens],
    oauthClients: opts.oauthClients.map((c) => ({ ...c })),
    dataDir,
    requestLog: log.entries,
    book(barcode) {
      library.tick(clock.now());
      return viewOf(barcode, ctx);
    },
    async archive(barcode) {
      library.tick(clock.now());
      const book = library.get(barcode);
      if (!book) throw new Error(`barcode "${barcode}" is not in the simulated library`);
      return book.inPool ? archives.get(book) : null;
    },
    stats: () => {
      library.tick(clock.now());
      return { ...library.stats(), tokensIssued: tokens.tokensIssued };
    },
    setFaults: (f) => faults.set(f),
    advance(simSeconds) {
      clock.advance(simSeconds);
      library.tick(clock.now());
    },
    now: () => new Date(clock.now()),
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await archives.settle();
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (opts.control) control = createControlHandler(running);
  return running;
}

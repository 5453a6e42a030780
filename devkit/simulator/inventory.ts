/**
 * The simulated library's catalogue: which barcodes exist, their titles, their starting GRIN
 * state, the historical dates the listings show and the `_barcode_search` metadata. Everything is
 * derived from the seed, so the same options always give the same library.
 */
import { bookTitle } from './book-content';
import { deriveSeed, pick, pickWeighted, randomInt, seededRandom, type Random } from './random';

export const BOOK_STATES = ['NEW', 'CHECKED_IN', 'IN_PROCESS', 'CONVERTED', 'PREVIOUSLY_DOWNLOADED', 'NOT_AVAILABLE_FOR_DOWNLOAD'] as const;
export type BookState = (typeof BOOK_STATES)[number];

/** States a book can have before anyone asks for its conversion. */
export type ConvertibleState = 'NEW' | 'PREVIOUSLY_DOWNLOADED';

export type InitialStateMix = 'mixed' | 'all-available' | 'all-new';

/** Real distribution of one ~108k-book run (PROTOCOL §1.1). */
const MIXED_WEIGHTS: Record<BookState, number> = {
  PREVIOUSLY_DOWNLOADED: 91_673,
  CONVERTED: 6_995,
  CHECKED_IN: 6_970,
  IN_PROCESS: 2_019,
  NEW: 120,
  NOT_AVAILABLE_FOR_DOWNLOAD: 60,
};
/** Demo default: every book can be had, some right away. */
const AVAILABLE_WEIGHTS = { NEW: 4, PREVIOUSLY_DOWNLOADED: 4, CONVERTED: 2 } as const;

export interface BookMetadata {
  viewability: string;
  conditions: string;
  scannable: string;
  optedOut: string;
  tagging: string;
  audit: string;
  materialError: string;
  overallError: string;
  claimed: string;
  ocrAnalysisScore: string;
  ocrGtdScore: string;
  digitizationMethod: string;
  sourceLibraryBibkey: string;
  rubbish: string;
  allowDownloadUpdatedDate?: number;
  viewabilityUpdatedDate?: number;
}

export interface ConversionFailure {
  date: number;
  info: string;
  detailedInfo: string;
}

export interface SimBook {
  barcode: string;
  title: string;
  pages: number;
  googleBooksId: string;
  state: BookState;
  /** Where the book returns when its package leaves the pool or its conversion fails. */
  stateBeforeConversion: ConvertibleState;
  /** A converted package is in the pool (HEAD/GET answer 200), whatever the state column says. */
  inPool: boolean;
  /** Completed conversions; each one produces a new package with a new ETag. */
  conversions: number;
  requestedAt?: number;
  failure?: ConversionFailure;
  checkInDate?: number;
  scannedDate?: number;
  processedDate?: number;
  analyzedDate?: number;
  ocrdDate?: number;
  convertedDate?: number;
  downloadedDate?: number;
  metadata: BookMetadata;
}

export interface InventoryOptions {
  seed: number;
  books: number;
  barcodes: string[];
  initialState: InitialStateMix;
  /** Per-barcode starting states that override the mix. */
  initialStates: Record<string, BookState>;
  pages: { min: number; max: number };
  /** Page counts of particular barcodes, overriding the drawn ones (e.g. a few books large enough for multipart uploads). */
  bookPages?: Record<string, number>;
  /** Simulated "now" when the library is created, epoch ms. */
  now: number;
  conversionDelaySeconds: number;
}

const BARCODE_PATTERN = /^[A-Za-z0-9_-]{3,50}$/;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function generatedBarcodes(seed: number, count: number, taken: Set<string>): string[] {
  const random = seededRandom(deriveSeed(seed, 'barcodes'));
  const out: string[] = [];
  while (out.length < count) {
    const barcode = '39999' + String(Math.floor(random() * 1e9)).padStart(9, '0');
    if (taken.has(barcode)) continue;
    taken.add(barcode);
    out.push(barcode);
  }
  return out;
}

function googleBooksId(random: Random): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  let id = '';
  for (let i = 0; i < 11; i++) id += pick(random, alphabet.split(''));
  return id + 'C';
}

function metadataFor(random: Random, checkIn: number): BookMetadata {
  const percent = () => `${randomInt(random, 0, random() < 0.8 ? 3 : 20)}%`;
  const bool = (p: number) => (random() < p ? 'true' : 'false');
  const conditionCount = randomInt(random, 0, 3);
  const conditions = Array.from({ length: conditionCount }, () => randomInt(random, 1, 12))
    .sort((a, b) => a - b)
    .join(',');
  const updated = checkIn + randomInt(random, 30, 2000) * DAY;
  return {
    viewability: pick(random, ['VIEW_FULL', 'VIEW_FULL', 'VIEW_METADATA', 'VIEW_NONE', 'VIEW_SNIPPET']),
    conditions,
    scannable: bool(0.95),
    optedOut: bool(0.02),
    tagging: bool(0.5),
    audit: random() < 0.7 ? '' : percent(),
    materialError: percent(),
    overallError: percent(),
    claimed: bool(0.1),
    ocrAnalysisScore: String(randomInt(random, 40, 100)),
    ocrGtdScore: String(randomInt(random, 40, 100)),
    digitizationMethod: pick(random, ['NON_DESTRUCTIVE', 'NON_DESTRUCTIVE', 'SHEETFED', 'DIGIFEED']),
    sourceLibraryBibkey: String(randomInt(random, 0, 999_999_999)).padStart(9, '0'),
    rubbish: bool(0.01),
    allowDownloadUpdatedDate: updated,
    viewabilityUpdatedDate: updated,
  };
}

function startingState(random: Random, mix: InitialStateMix): BookState {
  if (mix === 'all-new') return 'NEW';
  if (mix === 'all-available') return pickWeighted(random, AVAILABLE_WEIGHTS);
  return pickWeighted(random, MIXED_WEIGHTS);
}

function makeBook(barcode: string, state: BookState, opts: InventoryOptions): SimBook {
  const random = seededRandom(deriveSeed(opts.seed, 'book', barcode));
  const checkInDate = Date.UTC(2005, 0, 1) + Math.floor(random() * 15 * 365) * DAY + randomInt(random, 8, 17) * HOUR;
  const scannedDate = checkInDate + randomInt(random, 1, 60) * DAY + randomInt(random, 0, 59) * 60_000;
  const processedDate = scannedDate + randomInt(random, 2, 20) * HOUR;
  const analyzedDate = processedDate + randomInt(random, 1, 10) * HOUR;
  const ocrdDate = analyzedDate + randomInt(random, 1, 2000) * DAY;
  const metadata = metadataFor(random, checkInDate);
  const drawnPages = randomInt(random, opts.pages.min, opts.pages.max); // drawn always, so overrides leave other books as they were
  const book: SimBook = {
    barcode,
    title: bookTitle(opts.seed, barcode),
    pages: opts.bookPages?.[barcode] ?? drawnPages,
    googleBooksId: googleBooksId(random),
    state,
    stateBeforeConversion: 'NEW',
    inPool: false,
    conversions: 0,
    checkInDate,
    metadata,
  };
  if (state === 'CHECKED_IN') return book; // not scanned or processed yet
  Object.assign(book, { scannedDate, processedDate, analyzedDate, ocrdDate });
  const recentPast = (maxDays: number) => opts.now - Math.floor(random() * maxDays * DAY) - 60_000;
  switch (state) {
    case 'NOT_AVAILABLE_FOR_DOWNLOAD':
      if (random() < 0.7) book.title = ''; // often untitled (PROTOCOL §1.1)
      break;
    case 'PREVIOUSLY_DOWNLOADED':
      book.stateBeforeConversion = 'PREVIOUSLY_DOWNLOADED';
      book.conversions = 1;
      book.convertedDate = Math.min(ocrdDate + randomInt(random, 1, 400) * DAY, opts.now - 30 * DAY);
      book.downloadedDate = book.convertedDate + randomInt(random, 1, 72) * HOUR;
      break;
    case 'CONVERTED':
      book.inPool = true;
      book.conversions = 1;
      book.convertedDate = recentPast(5);
      break;
    case 'IN_PROCESS':
      book.requestedAt = opts.now - Math.floor(random() * opts.conversionDelaySeconds * 1000);
      break;
    case 'NEW':
      break;
  }
  return book;
}

/** Builds the catalogue: `books` generated barcodes (`39999` + 9 digits) followed by the explicit ones. */
export function createInventory(opts: InventoryOptions): SimBook[] {
  const taken = new Set<string>();
  for (const barcode of opts.barcodes) {
    if (!BARCODE_PATTERN.test(barcode)) throw new Error(`barcode "${barcode}" is not 3-50 characters of A-Z, a-z, 0-9, _ or -`);
    if (taken.has(barcode)) throw new Error(`barcode "${barcode}" is listed twice`);
    taken.add(barcode);
  }
  const all = [...generatedBarcodes(opts.seed, opts.books, taken), ...opts.barcodes];
  for (const [barcode, state] of Object.entries(opts.initialStates)) {
    if (!taken.has(barcode)) throw new Error(`initialStates names barcode "${barcode}", which is not in the library`);
    if (!(BOOK_STATES as readonly string[]).includes(state))
      throw new Error(`initialStates["${barcode}"]: unknown state "${state}"; use one of ${BOOK_STATES.join(', ')}`);
  }
  for (const [barcode, pages] of Object.entries(opts.bookPages ?? {})) {
    if (!taken.has(barcode)) throw new Error(`bookPages names barcode "${barcode}", which is not in the library`);
    if (!Number.isInteger(pages) || pages < 1)
      throw new Error(`bookPages["${barcode}"] must be a positive whole number of pages, got ${String(pages)}`);
  }
  const stateRandom = seededRandom(deriveSeed(opts.seed, 'states'));
  return all.map((barcode) => {
    const drawn = startingState(stateRandom, opts.initialState);
    return makeBook(barcode, opts.initialStates[barcode] ?? drawn, opts);
  });
}

/**
 * What a chaos run asks of the simulator: the books (some already converted, some needing a
 * conversion, a few large enough for multipart uploads), the deliberately bad ones and the reason
 * each must be parked with, and GRIN's request faults (together well over 20 % of requests).
 * Everything follows from the book count and the seed, so a run can be repeated.
 */
import type { BookState, FaultConfig, SimulatorOptions } from '../../simulator';

/** Damage that no retry can fix: each bad book must end in `failed` with a matching reason. */
export const BAD_KINDS = ['badPassphrase', 'corruptArchive', 'checksumMismatch', 'hostileArchive'] as const;
export type BadKind = (typeof BAD_KINDS)[number];

/** How an operator recognises each kind of damage in the parked token (error type or message). */
export const EXPECTED_REASON: Record<BadKind, RegExp> = {
  badPassphrase: /DecryptError|passphrase/i,
  corruptArchive: /DecryptError|CorruptArchive|integrity|modification detection|MDC|corrupt/i,
  checksumMismatch: /ChecksumMismatch|checksum/i,
  hostileArchive: /UnsafeArchive|\.\.|outside|unsafe|refus/i,
};

export interface ChaosPlan {
  seed: number;
  directory: string;
  barcodes: string[];
  good: string[];
  bad: Map<string, BadKind>;
  /** Books large enough for a multipart upload (> 16 MiB decrypted). */
  large: string[];
  simulator: SimulatorOptions;
}

export const PAGE_IMAGE_BYTES = 48 * 1024;
/** ~380 pages × 48 KiB ≈ 18 MiB of incompressible page images: above the 16 MiB multipart threshold. */
export const LARGE_BOOK_PAGES = 380;

/** A deterministic shuffle (mulberry32), so the same seed picks the same bad and large books. */
function shuffled<T>(items: T[], seed: number): T[] {
  let a = seed >>> 0 || 1;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export function chaosPlan(books: number, seed: number): ChaosPlan {
  if (!Number.isInteger(books) || books < 12)
    throw new Error(`--books must be a whole number of at least 12 (bad and large books need room), got ${books}`);
  const directory = 'CHAOS';
  const barcodes = Array.from({ length: books }, (_, i) => `3998${String(seed % 1000).padStart(3, '0')}${String(i + 1).padStart(7, '0')}`);
  const order = shuffled(barcodes, seed);
  const perKind = books >= 100 ? 2 : 1;
  const bad = new Map<string, BadKind>();
  BAD_KINDS.forEach((kind, k) => order.slice(k * perKind, (k + 1) * perKind).forEach((b) => bad.set(b, kind)));
  const largeCount = Math.max(3, Math.round(books / 15));
  const large = order.slice(BAD_KINDS.length * perKind, BAD_KINDS.length * perKind + largeCount);
  // A third already converted (in GRIN's pool), the rest need a conversion first.
  const initialStates: Record<string, BookState> = {};
  barcodes.forEach((b, i) => (initialStates[b] = i % 3 === 0 ? 'CONVERTED' : i % 3 === 1 ? 'NEW' : 'PREVIOUSLY_DOWNLOADED'));
  const byKind = (kind: BadKind) => [...bad].filter(([, k]) => k === kind).map(([b]) => b);
  const faults: FaultConfig = {
    // Request faults: about a quarter of GRIN's answers misbehave.
    serverError: 0.08,
    serverErrorStatus: 503,
    rateLimitArchive: 0.04,
    truncateBody: 0.05,
    truncateBodyFraction: 0.4,
    slowBody: 0.35, // slow enough that kills land mid-transfer
    slowBodyBytesPerSecond: 384 * 1024,
    missingEtag: 0.04,
    transient404: 0.04,
    loginRedirect: 0.06,
    requestUnavailable: 0.25, // HTML listings only
    // Content damage, once per package of the chosen books.
    badPassphrase: byKind('badPassphrase'),
    corruptArchive: byKind('corruptArchive'),
    checksumMismatch: byKind('checksumMismatch'),
    hostileArchive: byKind('hostileArchive'),
  };
  return {
    seed,
    directory,
    barcodes,
    good: barcodes.filter((b) => !bad.has(b)),
    bad,
    large,
    simulator: {
      directory,
      barcodes,
      seed,
      initialState: 'all-available',
      initialStates,
      pages: { min: 20, max: 100 },
      bookPages: Object.fromEntries(large.map((b) => [b, LARGE_BOOK_PAGES])),
      pageImageBytes: PAGE_IMAGE_BYTES,
      conversionDelaySeconds: 20,
      conversionsPerDay: 1_000_000,
      // Smaller than the batch: packages are evicted from the pool, some before they are downloaded.
      poolCap: Math.max(8, Math.ceil(books * 0.4)),
      tokenLifetimeSeconds: 90, // tokens expire several times during the run
      faults,
    },
  };
}

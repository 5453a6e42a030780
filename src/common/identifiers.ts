/**
 * The identifiers' rules, written once: what a barcode and a GRIN directory name may be, and the
 * file names a book's barcode becomes (its token, its local files). Barcodes become file names and
 * URL parts, so every place that takes one checks it against the same rule: the strictest one GRIN's
 * barcodes pass (3 to 50 characters of A-Z, a-z, 0-9, `_` and `-`: no dots, slashes or spaces; see
 * PROTOCOL.md). Pure data (no Node built-ins): workflow code may import it.
 */

/** The barcode rule, as error messages say it. */
export const BARCODE_RULE = '3 to 50 characters, each a letter, digit, "_" or "-"';
/** The characters of a barcode, for patterns that embed one (token and local file names). */
const BARCODE_CHARS = '[A-Za-z0-9_-]';
const BARCODE_PATTERN = new RegExp(`^${BARCODE_CHARS}{3,50}$`);

export function isValidBarcode(value: unknown): value is string {
  return typeof value === 'string' && BARCODE_PATTERN.test(value);
}

/** A GRIN directory (library) name: letters, digits, `_` and `-`; it becomes a URL part and a folder. */
const DIRECTORY_PATTERN = /^[A-Za-z0-9_-]+$/;

export function isValidDirectory(value: unknown): value is string {
  return typeof value === 'string' && DIRECTORY_PATTERN.test(value);
}

/** A book's token file: `<barcode>.json`; the barcode is group 1. */
export const TOKEN_FILE = new RegExp(`^(${BARCODE_CHARS}{3,50})\\.json$`);

export const tokenFileName = (barcode: string): string => `${barcode}.json`;

/** The endings of a book's local files under the processing folder, after its barcode. */
export const BOOK_FILE_SUFFIXES = {
  encrypted: '.tar.gz.gpg',
  partial: '.tar.gz.gpg.part',
  decrypted: '.tar.gz',
  extracted: '_extracted',
  /** What the one-pass decrypt+unpack found (file count, bytes, MD5 per file), for stage 05. */
  unpacked: '_unpacked.json',
  derivatives: '_derivatives',
} as const;

export type BookFile = keyof typeof BOOK_FILE_SUFFIXES;

/** The names of a book's local files (without the folder). */
export function bookFileNames(barcode: string): Record<BookFile, string> {
  const names = {} as Record<BookFile, string>;
  for (const [file, suffix] of Object.entries(BOOK_FILE_SUFFIXES)) names[file as BookFile] = `${barcode}${suffix}`;
  return names;
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Any of those names, and the temp files written beside them (a leading `.`, a `.<anything>` after):
 * the barcode is group 1. Longest endings first, so `.tar.gz.gpg.part` is not read as `.tar.gz`.
 */
export const BOOK_FILE = new RegExp(
  `^\\.?(${BARCODE_CHARS}+?)(?:${Object.values(BOOK_FILE_SUFFIXES)
    .sort((a, b) => b.length - a.length)
    .map(escaped)
    .join('|')})(?:\\..*)?$`,
);

/**
 * A name safe as part of a file name (no path: no slash, no leading dot): what the archive tools
 * (src/archive, `unpack`) ask of the barcode they take from an archive's file name. Wider than the
 * barcode rule, so an archive named otherwise than GRIN names it still unpacks.
 */
const FILE_NAME_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function isSafeFileNamePart(value: string): boolean {
  return FILE_NAME_PART.test(value);
}

/**
 * OCR derivative (PROTOCOL.md §6.3): every `NNNNNNNN.txt` page, in page order, as one JSON string per
 * line in a gzip (level 1) JSONL file. Gaps become "" so line N is always page N; bytes that are not
 * UTF-8 are replaced with U+FFFD. Written to a temporary name and renamed, so a half-written file never
 * carries the final name.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import { writeNewFileAtomically } from './output-files';
import { NoOcrTextError } from './errors';

const PAGE_FILE = /^(\d{8})\.txt$/;
/** GT accepts page numbers 1..999999; larger ones would mean millions of empty lines. */
const MAX_PAGE = 999_999;

/** Page number → file, for every page text file anywhere under `dir` (first found wins on duplicates). */
export async function findOcrPages(dir: string): Promise<Map<number, string>> {
  const pages = new Map<number, string>();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const found = entries
    .filter((e) => e.isFile() && PAGE_FILE.test(e.name))
    .map((e) => ({ page: Number(e.name.slice(0, 8)), file: join(e.parentPath, e.name) }))
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const { page, file } of found) {
    if (page >= 1 && page <= MAX_PAGE && !pages.has(page)) pages.set(page, file);
  }
  return pages;
}

/** Lines of the JSONL, produced lazily so only one page is in memory at a time. */
async function* jsonLines(pages: Map<number, string>, lastPage: number): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  for (let page = 1; page <= lastPage; page++) {
    const file = pages.get(page);
    const text = file ? decoder.decode(await readFile(file)) : '';
    yield JSON.stringify(text) + '\n';
  }
}

/**
 * Writes `<outPath>` (.jsonl.gz). `pageCount` is the number of lines, i.e. the highest page number.
 * Throws NoOcrTextError, writing nothing, when the folder has no page text file at all.
 */
export async function writeOcrJsonl(dir: string, outPath: string): Promise<{ pageCount: number }> {
  const pages = await findOcrPages(dir);
  if (pages.size === 0) throw new NoOcrTextError(`No OCR page text (NNNNNNNN.txt) found in ${dir}.`);
  const lastPage = [...pages.keys()].reduce((a, b) => Math.max(a, b), 0);
  await writeGzipAtomically(Readable.from(jsonLines(pages, lastPage)), outPath);
  return { pageCount: lastPage };
}

/** gzip level 1 to `<outPath>.part` (a new file, see output-files.ts), then rename. */
export async function writeGzipAtomically(source: Readable, outPath: string): Promise<void> {
  await writeNewFileAtomically(outPath, (out) => pipeline(source, createGzip({ level: zlibConstants.Z_BEST_SPEED }), out));
}

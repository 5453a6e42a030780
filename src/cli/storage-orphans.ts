/**
 * Objects in storage that no stored token vouches for. A book's token object is uploaded last
 * (activities/upload.ts), so a book whose archive, OCR or MARC is in storage without its token was
 * left half stored: by a cancel during the upload, a crash before the token went up, or a storage
 * switch. Nothing else lists them; `reconcile` reports them for an operator to delete or re-run.
 */
import type { Board } from '../buckets/board';
import type { Bucket } from '../buckets/token';
import type { StorageLayout } from '../config/types';
import type { BookStorage } from '../storage/types';

export interface StorageOrphan {
  /** The book the keys belong to by the storage layout. */
  barcode: string;
  /** Its stored keys (none of them the token). */
  keys: string[];
  /** Where the board has the book, or null when it is not on the board. */
  bucket: Bucket | null;
}

export interface OrphanScan {
  /** Books with objects but no token object, excluding those being stored right now. */
  orphans: StorageOrphan[];
  /** Keys that match no template of the storage layout (another tool's, or an older layout's). */
  unknownKeys: string[];
  /** Books in 06_processed with objects and no token yet: their upload may be under way. */
  uploading: string[];
  /** Keys listed. */
  keysListed: number;
}

type Kind = keyof StorageLayout;

/** `raw/{barcode}/{barcode}.tar.gz` → a pattern that matches such keys and captures the barcode. */
function templatePattern(template: string): RegExp {
  const parts = template.split('{barcode}').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // Every {barcode} in a template names the same barcode: the first captures it, the others repeat it.
  return new RegExp(
    `^${parts[0]}([A-Za-z0-9_-]+)${parts
      .slice(1)
      .map((p, i) => (i === parts.length - 2 ? p : `${p}\\1`))
      .join('')}$`,
  );
}

/** Which book and artifact a key is, by the layout; undefined for keys of no template. */
export function keyOwner(layout: StorageLayout, key: string): { barcode: string; kind: Kind } | undefined {
  for (const kind of Object.keys(layout) as Kind[]) {
    const match = templatePattern(layout[kind]).exec(key);
    if (match) return { barcode: match[1], kind };
  }
  return undefined;
}

/** Lists storage and groups its keys by book (see the module comment). */
export async function findStorageOrphans(storage: BookStorage, layout: StorageLayout, board: Board): Promise<OrphanScan> {
  if (!storage.listKeys) throw new Error(`storage ${storage.location} cannot list its objects`);
  const byBook = new Map<string, { keys: string[]; token: boolean }>();
  const unknownKeys: string[] = [];
  let keysListed = 0;
  for await (const key of storage.listKeys()) {
    keysListed++;
    const owner = keyOwner(layout, key);
    if (!owner) {
      unknownKeys.push(key);
      continue;
    }
    const book = byBook.get(owner.barcode) ?? { keys: [], token: false };
    if (owner.kind === 'token') book.token = true;
    else book.keys.push(key);
    byBook.set(owner.barcode, book);
  }
  const orphans: StorageOrphan[] = [];
  const uploading: string[] = [];
  for (const [barcode, book] of [...byBook].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (book.token) continue;
    const bucket = await board.locate(barcode).catch(() => null); // a name no barcode can have: not on the board
    if (bucket === '06_processed') uploading.push(barcode);
    else orphans.push({ barcode, keys: book.keys.sort(), bucket });
  }
  return { orphans, unknownKeys: unknownKeys.sort(), uploading, keysListed };
}

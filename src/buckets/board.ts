/**
 * The Kanban board: one folder per bucket under the pipeline folder, one `<barcode>.json` token per
 * book. A move writes the new token into the destination bucket through a temp file + rename, then
 * removes the old copy. A crash between those two steps leaves two copies; the recovery rule (newest
 * `updatedAt` wins, ties go to the later bucket) runs whenever a book is looked up, and in
 * `reconcile`. `updatedAt` strictly increases on every write, so the copy a move wrote always wins.
 *
 * Operations on one barcode are serialized within this process. Several processes moving the same
 * book at once is not supported (Temporal runs a book's activities one at a time).
 */
import { PipelineError } from '../common/errors';
import { lstat, promises as fs } from 'node:fs';
import pLimit from 'p-limit';
import * as path from 'node:path';
import { TEMP_NAME, writeFileAtomic } from '../common/atomic-file';
import { PRIVATE_DIR_MODE } from '../common/file-modes';
import { scrubDeep } from '../common/secret-values';
import { isValidDirectory, TOKEN_FILE } from '../common/identifiers';
import { validateBarcode } from './barcode';
import { BUCKETS, isBucket, STAGE_BUCKETS, type BookToken, type Bucket } from './token';

export interface BoardProblem {
  bucket: string;
  file: string;
  problem: string;
}

export interface ReconcileResult {
  /** Barcodes that were in more than one bucket; only the newest copy is left. */
  duplicatesResolved: string[];
  /** Abandoned temp files removed, as `<bucket>/<file>`. */
  tempFilesRemoved: string[];
  /** Strays and unreadable tokens: reported, left in place. */
  problems: BoardProblem[];
}

/** Fields a new token may start with; bucket, stages and updatedAt are the board's to set. */
export type TokenInit = Partial<Omit<BookToken, 'bucket' | 'stages' | 'updatedAt'>> & {
  barcode: string;
  directory: string;
};

/** The book has no token in any bucket: an operator must look (retrying does not bring it back). */
export class BookNotOnBoardError extends PipelineError {
  constructor(
    readonly barcode: string,
    detail = '',
  ) {
    super(`Book ${barcode} is not on the board (no ${barcode}.json in any bucket).${detail ? ` ${detail}` : ''}`, { retryable: false });
  }
}

/** A token that does not parse or breaks the board's rules: permanent until an operator fixes it. */
export class TokenFileError extends PipelineError {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`Token file ${file} cannot be used: ${reason}. Inspect it, then fix or remove it.`, { retryable: false });
  }
}

/** A token write the board refuses (a bad directory, a changed barcode): the same write is refused every time. */
export class TokenValueError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** Temp files of token writes in progress (or abandoned by a crash): `.<barcode>.json.<pid>.<random>.tmp`. */
const TEMP_FILE = TEMP_NAME;
/** Temp files younger than this may belong to a move in progress. */
const DEFAULT_TEMP_MAX_AGE_MS = 60_000;
const READ_CONCURRENCY = 32;

/** Per-barcode chains of pending operations, shared by all Board objects of this process. */
const barcodeLocks = new Map<string, Promise<unknown>>();

async function withLock<T>(key: string, action: () => Promise<T>): Promise<T> {
  const previous = barcodeLocks.get(key) ?? Promise.resolve();
  const run = previous.then(action, action);
  const tail = run.catch(() => undefined);
  barcodeLocks.set(key, tail);
  try {
    return await run;
  } finally {
    if (barcodeLocks.get(key) === tail) barcodeLocks.delete(key);
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** ISO time strictly after `previous`, so a rewritten token always sorts as newer than its old copy. */
function nextTimestamp(previous: string | undefined): string {
  const now = Date.now();
  const previousMs = previous ? Date.parse(previous) : NaN;
  return new Date(Number.isFinite(previousMs) && previousMs >= now ? previousMs + 1 : now).toISOString();
}

function bucketOrder(bucket: Bucket): number {
  return (BUCKETS as readonly string[]).indexOf(bucket);
}

function assertBucket(bucket: string): asserts bucket is Bucket {
  if (!isBucket(bucket)) {
    throw new Error(`Unknown bucket ${JSON.stringify(bucket)}; buckets are: ${BUCKETS.join(', ')}.`);
  }
}

interface Copy {
  bucket: Bucket;
  token?: BookToken;
  /** Why the copy could not be used, when it could not. */
  unreadable?: string;
}

interface Settled {
  bucket: Bucket;
  token: BookToken;
}

export class Board {
  private constructor(readonly root: string) {}

  /** Opens the board at `root` (the pipeline folder), creating it and every bucket folder. */
  static async open(root: string): Promise<Board> {
    const board = new Board(path.resolve(root));
    await fs.mkdir(board.root, { recursive: true, mode: PRIVATE_DIR_MODE });
    await Promise.all(BUCKETS.map((bucket) => fs.mkdir(board.bucketDir(bucket), { recursive: true, mode: PRIVATE_DIR_MODE })));
    return board;
  }

  bucketDir(bucket: Bucket): string {
    assertBucket(bucket);
    return path.join(this.root, bucket);
  }

  /** Path of a token file; the barcode is validated first, so no odd name reaches the filesystem. */
  tokenPath(bucket: Bucket, barcode: string): string {
    validateBarcode(barcode);
    return path.join(this.bucketDir(bucket), `${barcode}.json`);
  }

  async get(barcode: string): Promise<BookToken | null> {
    validateBarcode(barcode);
    return (await this.locked(barcode, () => this.settle(barcode)))?.token ?? null;
  }

  /** The bucket holding the book, or null. Resolves a crash-left duplicate on the way. */
  async locate(barcode: string): Promise<Bucket | null> {
    validateBarcode(barcode);
    return (await this.locked(barcode, () => this.settle(barcode)))?.bucket ?? null;
  }

  /** Puts a new token in `00_available`, unless the book is already on the board (then returns that). */
  async create(init: TokenInit): Promise<{ token: BookToken; created: boolean }> {
    validateBarcode(init.barcode);
    assertDirectory(init.directory, init.barcode);
    return this.locked(init.barcode, async () => {
      const existing = await this.settle(init.barcode);
      if (existing) return { token: existing.token, created: false };
      const now = nextTimestamp(undefined);
      const token: BookToken = {
        ...init,
        bucket: '00_available',
        stages: { '00_available': now },
        updatedAt: now,
      };
      await this.writeTokenCopy(token);
      return { token, created: true };
    });
  }

  /**
   * Moves the book's token to `to`, merging `patch` in; records the arrival time in `stages[to]`.
   * A book not yet on the board is placed directly (then `patch.directory` is required). Moving to
   * the bucket it is in only applies the patch. Arriving in a stage bucket clears `lastError` unless
   * the patch sets it.
   */
  async move(barcode: string, to: Bucket, patch: Partial<BookToken> = {}): Promise<BookToken> {
    validateBarcode(barcode);
    assertBucket(to);
    assertPatchBarcode(barcode, patch);
    return this.locked(barcode, async () => {
      const current = await this.settle(barcode);
      const updatedAt = nextTimestamp(current?.token.updatedAt);

      if (!current) {
        // Deleted while the book ran: the workflow, which knows the directory, rebuilds it (rebuildToken).
        if (patch.directory === undefined) {
          throw new BookNotOnBoardError(barcode, `Cannot move it to ${to}: placing it needs the library directory (patch.directory).`);
        }
        assertDirectory(patch.directory, barcode);
        const token: BookToken = {
          ...patch,
          barcode,
          directory: patch.directory,
          bucket: to,
          stages: { ...patch.stages, [to]: updatedAt },
          updatedAt,
        };
        await this.writeTokenCopy(token);
        return token;
      }

      const arriving = current.bucket !== to;
      const token: BookToken = {
        ...current.token,
        ...patch,
        barcode,
        bucket: to,
        stages: { ...current.token.stages, ...patch.stages, ...(arriving ? { [to]: updatedAt } : {}) },
        updatedAt,
      };
      if (arriving && (STAGE_BUCKETS as readonly string[]).includes(to) && !('lastError' in patch)) {
        delete token.lastError;
      }
      await this.writeTokenCopy(token);
      if (arriving) await this.removeCopy(current.bucket, barcode);
      return token;
    });
  }

  /**
   * Rebuilds a token that is missing or unreadable (truncated or deleted by hand while its book ran)
   * from what the caller knows (the workflow's barcode, directory, workflow id, batch, the bucket
   * its run is in): unreadable copies are renamed aside (`<barcode>.json.unreadable-<time>`, kept
   * for an operator) and a fresh token is written in `bucket`. A readable token is left as it is
   * (someone repaired it meanwhile). Returns the token and what was set aside.
   */
  async rebuild(
    barcode: string,
    bucket: Bucket,
    patch: Partial<BookToken> & { directory: string },
  ): Promise<{ token: BookToken; rebuilt: boolean; setAside: string[] }> {
    validateBarcode(barcode);
    assertBucket(bucket);
    assertDirectory(patch.directory, barcode);
    return this.locked(barcode, async () => {
      const setAside: string[] = [];
      try {
        const current = await this.settle(barcode);
        if (current) return { token: current.token, rebuilt: false, setAside };
      } catch (error) {
        if (!(error instanceof TokenFileError)) throw error;
        for (const b of BUCKETS) {
          const file = this.tokenPath(b, barcode);
          const copy = await this.readCopy(b, barcode);
          if (!copy || copy.token) continue;
          const aside = `${file}.unreadable-${Date.now()}`;
          await fs.rename(file, aside);
          setAside.push(`${b}/${path.basename(aside)}`);
        }
      }
      const updatedAt = nextTimestamp(undefined);
      const status = setAside.length
        ? `${patch.status ?? 'token rebuilt'}; the unreadable file was kept as ${setAside.join(', ')}`
        : patch.status;
      const token: BookToken = {
        ...patch,
        ...(status ? { status } : {}),
        barcode,
        bucket,
        stages: { ...patch.stages, [bucket]: updatedAt },
        updatedAt,
      };
      await this.writeTokenCopy(token);
      return { token, rebuilt: true, setAside };
    });
  }

  /** Rewrites the token in place (same bucket), e.g. for a status change. `patch.bucket` is ignored. */
  async update(barcode: string, patch: Partial<BookToken>): Promise<BookToken> {
    validateBarcode(barcode);
    assertPatchBarcode(barcode, patch);
    return this.locked(barcode, async () => {
      const current = await this.settle(barcode);
      if (!current) throw new BookNotOnBoardError(barcode);
      const token: BookToken = {
        ...current.token,
        ...patch,
        barcode,
        bucket: current.bucket,
        stages: { ...current.token.stages, ...patch.stages },
        updatedAt: nextTimestamp(current.token.updatedAt),
      };
      await this.writeTokenCopy(token);
      return token;
    });
  }

  /**
   * Lower-level first step of a move: atomically writes `token` as `<token.bucket>/<barcode>.json`
   * (temp file, fsync, rename) without removing copies elsewhere. Exposed for recovery tests and
   * tools; normal code uses move/update. The token quotes errors (lastError): every registered secret
   * value is scrubbed from it, and the file is the owner's only (writeFileAtomic's 0600).
   */
  async writeTokenCopy(token: BookToken): Promise<void> {
    await writeFileAtomic(this.tokenPath(token.bucket, token.barcode), `${JSON.stringify(scrubDeep(token), null, 2)}\n`);
  }

  /** Tokens of a bucket, sorted by barcode, plus any strays or unreadable files found there. */
  async list(bucket: Bucket): Promise<{ tokens: BookToken[]; problems: BoardProblem[] }> {
    assertBucket(bucket);
    const entries = await fs.readdir(this.bucketDir(bucket), { withFileTypes: true });
    const problems: BoardProblem[] = [];
    const tokenNames: string[] = [];
    for (const entry of entries) {
      if (TEMP_FILE.test(entry.name)) continue;
      const stray = strayReason(entry.name, entry.isFile());
      if (stray) problems.push({ bucket, file: entry.name, problem: stray });
      else tokenNames.push(entry.name);
    }
    const limit = pLimit(READ_CONCURRENCY);
    const checked = await Promise.all(tokenNames.map((name) => limit(() => this.checkTokenFile(bucket, name))));
    const tokens: BookToken[] = [];
    for (const result of checked) {
      problems.push(...result.problems);
      if (result.token) tokens.push({ ...result.token, bucket });
    }
    tokens.sort((a, b) => (a.barcode < b.barcode ? -1 : a.barcode > b.barcode ? 1 : 0));
    return { tokens, problems };
  }

  /** Barcodes in a bucket from file names alone (no file is read), in directory order. */
  async listBarcodes(bucket: Bucket): Promise<string[]> {
    assertBucket(bucket);
    const barcodes: string[] = [];
    for (const entry of await fs.readdir(this.bucketDir(bucket), { withFileTypes: true })) {
      const match = entry.isFile() ? TOKEN_FILE.exec(entry.name) : null;
      if (match) barcodes.push(match[1]);
    }
    return barcodes;
  }

  /** Number of tokens per bucket, from file names alone (temp files and strays not counted). */
  async counts(): Promise<Record<Bucket, number>> {
    return this.countsOf(BUCKETS);
  }

  /** Like `counts`, reading only the given buckets' folders. */
  async countsOf<B extends Bucket>(buckets: readonly B[]): Promise<Record<B, number>> {
    const totals = await Promise.all(
      buckets.map(async (bucket) => {
        assertBucket(bucket);
        let count = 0;
        for (const entry of await fs.readdir(this.bucketDir(bucket), { withFileTypes: true })) {
          if (entry.isFile() && TOKEN_FILE.test(entry.name)) count += 1;
        }
        return [bucket, count] as const;
      }),
    );
    return Object.fromEntries(totals) as Record<B, number>;
  }

  /**
   * Walks every bucket: removes abandoned temp files, resolves duplicates left by a crash, and
   * reports strays and unreadable tokens (never deleting them).
   */
  async reconcile(options: { tempMaxAgeMs?: number } = {}): Promise<ReconcileResult> {
    const tempMaxAgeMs = options.tempMaxAgeMs ?? DEFAULT_TEMP_MAX_AGE_MS;
    const result: ReconcileResult = { duplicatesResolved: [], tempFilesRemoved: [], problems: [] };
    const firstSeen = new Map<string, Bucket>();
    const duplicates = new Set<string>();
    const tokenFiles: { bucket: Bucket; name: string; barcode: string }[] = [];

    for (const bucket of BUCKETS) {
      const dir = this.bucketDir(bucket);
      const entries = await fs.readdir(dir, { withFileTypes: true });
      for (const entry of entries) {
        if (TEMP_FILE.test(entry.name)) {
          if (await removeIfOlderThan(path.join(dir, entry.name), tempMaxAgeMs)) {
            result.tempFilesRemoved.push(`${bucket}/${entry.name}`);
          }
          continue;
        }
        const stray = strayReason(entry.name, entry.isFile());
        if (stray) {
          result.problems.push({ bucket, file: entry.name, problem: stray });
          continue;
        }
        const barcode = (TOKEN_FILE.exec(entry.name) as RegExpExecArray)[1];
        if (firstSeen.has(barcode)) duplicates.add(barcode);
        else firstSeen.set(barcode, bucket);
        tokenFiles.push({ bucket, name: entry.name, barcode });
      }
    }
    // The board's own files beside the buckets (meta/grin-request-seq) are written the same way: a
    // kill -9 mid-write leaves their temp file there too.
    const metaDir = path.join(this.root, 'meta');
    for (const name of await fs.readdir(metaDir).catch(() => [] as string[])) {
      if (TEMP_FILE.test(name) && (await removeIfOlderThan(path.join(metaDir, name), tempMaxAgeMs)))
        result.tempFilesRemoved.push(`meta/${name}`);
    }

    const unresolved = new Set<string>();
    for (const barcode of duplicates) {
      try {
        const setAside = await this.locked(barcode, async () => {
          const found: BoardProblem[] = [];
          await this.settle(barcode, found);
          return found;
        });
        result.duplicatesResolved.push(barcode);
        result.problems.push(...setAside);
      } catch (error) {
        // Every copy unreadable: report, leave them all for an operator.
        unresolved.add(barcode);
        result.problems.push({ bucket: '*', file: `${barcode}.json`, problem: (error as Error).message });
      }
    }

    // Check the contents of what is left (removed losers read as missing and are skipped).
    const remaining = tokenFiles.filter((file) => !unresolved.has(file.barcode));
    const limit = pLimit(READ_CONCURRENCY);
    const checked = await Promise.all(remaining.map((file) => limit(() => this.checkTokenFile(file.bucket, file.name))));
    for (const check of checked) result.problems.push(...check.problems);
    return result;
  }

  // -------------------------------------------------------------------------------------------

  private locked<T>(barcode: string, action: () => Promise<T>): Promise<T> {
    return withLock(`${this.root}\0${barcode}`, action);
  }

  /**
   * Finds the book's token, applying the recovery rule when copies sit in several buckets: the
   * newest readable copy stays; older copies are deleted; unreadable copies are renamed aside
   * (`<barcode>.json.unreadable-<time>`) so the evidence stays for an operator; those are reported
   * in `setAside`. Must run under the barcode's lock.
   */
  private async settle(barcode: string, setAside: BoardProblem[] = []): Promise<Settled | null> {
    const present = await regularFiles(BUCKETS.map((bucket) => this.tokenPath(bucket, barcode)));
    const copies: Copy[] = [];
    for (const [i, bucket] of BUCKETS.entries()) {
      const copy = present[i] && (await this.readCopy(bucket, barcode));
      if (copy) copies.push(copy);
    }
    if (copies.length === 0) return null;
    if (copies.length === 1) {
      const [only] = copies;
      if (!only.token) throw new TokenFileError(this.tokenPath(only.bucket, barcode), only.unreadable ?? 'unreadable');
      return { bucket: only.bucket, token: { ...only.token, bucket: only.bucket } };
    }

    const readable = copies.filter((copy) => copy.token);
    if (readable.length === 0) {
      throw new TokenFileError(
        copies.map((copy) => this.tokenPath(copy.bucket, barcode)).join(' and '),
        'every copy of this token is unreadable',
      );
    }
    const winner = readable.reduce((best, copy) => (isNewer(copy, best) ? copy : best));
    for (const copy of copies) {
      if (copy === winner) continue;
      const file = this.tokenPath(copy.bucket, barcode);
      if (copy.token) {
        await fs.rm(file, { force: true });
      } else {
        const aside = `${file}.unreadable-${Date.now()}`;
        await fs.rename(file, aside);
        setAside.push({
          bucket: copy.bucket,
          file: path.basename(aside),
          problem: `unreadable duplicate of ${barcode} (${copy.unreadable}); kept the copy in ${winner.bucket}, renamed this one aside`,
        });
      }
    }
    return { bucket: winner.bucket, token: { ...(winner.token as BookToken), bucket: winner.bucket } };
  }

  /** One bucket's copy of a token, or null if it vanished meanwhile. */
  private async readCopy(bucket: Bucket, barcode: string): Promise<Copy | null> {
    const outcome = await readTokenFile(this.tokenPath(bucket, barcode), barcode);
    if ('missing' in outcome) return null;
    return 'token' in outcome ? { bucket, token: outcome.token } : { bucket, unreadable: outcome.problem };
  }

  private async checkTokenFile(bucket: Bucket, name: string): Promise<{ token?: BookToken; problems: BoardProblem[] }> {
    const barcode = name.slice(0, -'.json'.length);
    const outcome = await readTokenFile(path.join(this.bucketDir(bucket), name), barcode);
    if ('missing' in outcome) return { problems: [] };
    if ('problem' in outcome) return { problems: [{ bucket, file: name, problem: outcome.problem }] };
    const problems: BoardProblem[] = [];
    if (outcome.token.bucket !== bucket) {
      problems.push({
        bucket,
        file: name,
        problem: `token says bucket ${JSON.stringify(outcome.token.bucket)} but the file is in ${bucket}`,
      });
    }
    return { token: outcome.token, problems };
  }

  private async removeCopy(bucket: Bucket, barcode: string): Promise<void> {
    await fs.rm(this.tokenPath(bucket, barcode), { force: true });
  }
}

function assertDirectory(directory: unknown, barcode: string): void {
  if (typeof directory !== 'string' || !isValidDirectory(directory)) {
    throw new TokenValueError(
      `Invalid library directory ${JSON.stringify(directory)} for ${barcode}: expected letters, digits, "_" or "-".`,
    );
  }
}

function assertPatchBarcode(barcode: string, patch: Partial<BookToken>): void {
  if (patch.barcode !== undefined && patch.barcode !== barcode) {
    throw new TokenValueError(`Cannot change the barcode of token ${barcode} to ${JSON.stringify(patch.barcode)}.`);
  }
}

function isNewer(candidate: Copy, best: Copy): boolean {
  const candidateMs = Date.parse(candidate.token?.updatedAt ?? '') || 0;
  const bestMs = Date.parse(best.token?.updatedAt ?? '') || 0;
  if (candidateMs !== bestMs) return candidateMs > bestMs;
  return bucketOrder(candidate.bucket) > bucketOrder(best.bucket);
}

/** Why a bucket entry is not a token file, or undefined if it is one. */
function strayReason(name: string, isRegularFile: boolean): string | undefined {
  if (!TOKEN_FILE.test(name)) return 'stray file: not a token (<barcode>.json)';
  if (!isRegularFile) return 'stray entry: named like a token but not a regular file';
  return undefined;
}

type ReadOutcome = { token: BookToken } | { problem: string } | { missing: true };

async function readTokenFile(file: string, barcode: string): Promise<ReadOutcome> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { missing: true };
    return { problem: `cannot read: ${errorCode(error) ?? (error as Error).message}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { problem: `unreadable JSON: ${(error as Error).message}` };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { problem: 'not a JSON object' };
  const token = data as Partial<BookToken>;
  if (token.barcode !== barcode) {
    return { problem: `token says barcode ${JSON.stringify(token.barcode)} but the file is ${barcode}.json` };
  }
  return {
    token: {
      ...token,
      barcode,
      directory: typeof token.directory === 'string' ? token.directory : '',
      stages: typeof token.stages === 'object' && token.stages !== null ? token.stages : {},
      updatedAt: typeof token.updatedAt === 'string' ? token.updatedAt : '',
    } as BookToken,
  };
}

/**
 * Which of `files` are regular files (a missing one is not), checked at once. Every lookup asks
 * this of all ten buckets, nine of them missing: fs.lstat's callbacks gathered into one promise
 * spare ten promises and nine rejections, each capturing a stack, that fs.promises.lstat costs
 * (measured: ~170 µs less CPU a lookup; docs/benchmarks.md, issue 23).
 */
export function regularFiles(files: readonly string[]): Promise<boolean[]> {
  return new Promise((resolve, reject) => {
    const found = files.map(() => false);
    let left = files.length;
    if (left === 0) return resolve(found);
    let failed = false;
    files.forEach((file, i) =>
      lstat(file, (error, stats) => {
        if (failed) return;
        if (error && error.code !== 'ENOENT') {
          failed = true;
          return reject(error);
        }
        found[i] = !error && stats.isFile();
        if (--left === 0) resolve(found);
      }),
    );
  });
}

async function removeIfOlderThan(file: string, maxAgeMs: number): Promise<boolean> {
  try {
    const stats = await fs.lstat(file);
    if (Date.now() - stats.mtimeMs < maxAgeMs) return false;
    await fs.rm(file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false; // its move just finished
    throw error;
  }
}

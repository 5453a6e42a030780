/**
 * `grin-pipeline unpack`: the whole file path for one local archive, outside Temporal, for operators
 * checking an archive by hand or re-processing archives fetched by other tools.
 *
 * Layout under `outDir`: `<barcode>.tar.gz` (decrypted; not with `decrypted: true`), `<barcode>/`
 * (unpacked files), `<barcode>_ocr.jsonl.gz`, `<barcode>_marc.json`.
 *
 * `outDir` must be absent or an empty folder, and not a symbolic link; files are created under
 * temporary names that cannot already exist and renamed into place (output-files.ts), so nothing
 * outside `outDir` is ever written. On any failure, including a checksum mismatch and an abort
 * (Ctrl-C in the CLI), everything this run created is removed, and nothing else.
 */
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ChecksumResult, ExtractLimits } from './types';
import { DEFAULT_LIMITS } from '../config/schema';
import { assertSafeBarcode, makeDerivatives, marcFileName, ocrFileName } from './derivatives';
import { ArchiveUsageError, OutputExistsError, listNames } from './errors';
import { PipelineError } from '../common/errors';
import { decryptAndExtract, derivativeInputsOnly, extractTarGzWithDigests, type ExtractResultWithDigests } from './extract';
import { verifyChecksums } from './verify';
import { PRIVATE_DIR_MODE } from '../common/file-modes';

/** The config schema's defaults (the pipeline uses the same unless its config says otherwise). */
export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxUnpackedBytes: DEFAULT_LIMITS.maxUnpackedBytes,
  maxEntries: DEFAULT_LIMITS.maxEntries,
  maxExpansionRatio: DEFAULT_LIMITS.maxExpansionRatio,
  expansionCheckAfterBytes: DEFAULT_LIMITS.expansionCheckAfterBytes,
};

export interface UnpackSummary {
  barcode: string;
  archive: string;
  /** Undefined when the input was already decrypted. */
  decryptedPath?: string;
  decryptedBytes: number;
  extractedDir: string;
  files: number;
  bytes: number;
  checksum: ChecksumResult;
  ocrPath: string;
  pageCount: number;
  marcPath: string;
  hasMarc: boolean;
  /** Things an operator should know that are not failures (no checksum file, unlisted files, no OCR, no MARC). */
  notes: string[];
  timingsMs: { decryptAndExtract: number; verify: number; derivatives: number };
}

/** Thrown when `signal` aborts the run (Ctrl-C in the CLI); what was written is removed first. */
export class UnpackAborted extends PipelineError {
  constructor() {
    super('Interrupted: everything this run had written was removed.', { retryable: false });
    this.name = 'UnpackAborted';
  }
}

/** `33433012345678.tar.gz.gpg` → `33433012345678`; `33433012345678.tar.gz` → `33433012345678`. */
export function barcodeFromArchiveName(file: string): string {
  return basename(file)
    .replace(/(\.tar)?(\.gz|\.tgz)?\.(gpg|pgp|asc)$/i, '')
    .replace(/\.(tar\.gz|tgz)$/i, '');
}

export interface UnpackOptions {
  archive: string;
  /** Needed unless `decrypted`. */
  passphrase?: string;
  /** The archive is an already decrypted `.tar.gz` (e.g. from `gpg -d`): extract, verify, derive. */
  decrypted?: boolean;
  outDir: string;
  barcode?: string;
  limits?: Partial<ExtractLimits>;
  /**
   * 'all' (default) unpacks every file; 'derivative-inputs' stores only page text, XML and
   * checksum.md5, while still checking, hashing and verifying every entry (half the disk writes).
   */
  keep?: 'all' | 'derivative-inputs';
  /** Where openpgp.js decrypts: a worker thread (default, uses a second core) or this thread. */
  decryptThread?: 'worker' | 'main';
  /** Aborting stops the run, removes its outputs and rejects with UnpackAborted. */
  signal?: AbortSignal;
}

/** Decrypt → extract → verify → derivatives. Throws the first stage's error (see errors.ts). */
export async function unpackArchive(opts: UnpackOptions): Promise<UnpackSummary> {
  const barcode = opts.barcode ?? barcodeFromArchiveName(opts.archive);
  assertSafeBarcode(barcode);
  if (!opts.decrypted && opts.passphrase === undefined)
    throw new ArchiveUsageError('unpackArchive: a passphrase is needed unless `decrypted` is set.');
  const limits: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS, ...opts.limits };
  const outDir = resolve(opts.outDir);
  const created = await claimOutputFolder(outDir);
  const decryptedPath = opts.decrypted ? undefined : join(outDir, `${barcode}.tar.gz`);
  const extractedDir = join(outDir, barcode);
  // Everything the run may create inside an output folder it did not create itself.
  const outputs = [extractedDir, join(outDir, ocrFileName(barcode)), join(outDir, marcFileName(barcode))];
  if (decryptedPath) outputs.push(decryptedPath);

  // The caller's signal stops the run's streams; the run then settles (its own clean-up runs)
  // before what is left is removed.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stop.abort();
  try {
    const summary = await run(opts, limits, barcode, outDir, decryptedPath, extractedDir, stop.signal);
    stop.signal.throwIfAborted();
    return summary;
  } catch (err) {
    await removeOutputs(created, outputs);
    throw stop.signal.aborted ? new UnpackAborted() : err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

async function run(
  opts: UnpackOptions,
  limits: ExtractLimits,
  barcode: string,
  outDir: string,
  decryptedPath: string | undefined,
  extractedDir: string,
  stop: AbortSignal,
): Promise<UnpackSummary> {
  const writeOnly = opts.keep === 'derivative-inputs' ? derivativeInputsOnly : undefined;
  let t = Date.now();
  let unpacked: ExtractResultWithDigests & { decryptedBytes: number };
  if (decryptedPath) {
    unpacked = await decryptAndExtract(opts.archive, decryptedPath, extractedDir, opts.passphrase!, limits, {
      writeOnly,
      decryptThread: opts.decryptThread,
      signal: stop,
    });
  } else {
    const result = await extractTarGzWithDigests(opts.archive, extractedDir, limits, { writeOnly, signal: stop });
    unpacked = { ...result, decryptedBytes: 0 };
  }
  const tDecrypt = Date.now() - t;
  stop.throwIfAborted();

  t = Date.now();
  const checksum = await verifyChecksums(extractedDir, { knownMd5: unpacked.md5 });
  const tVerify = Date.now() - t;
  stop.throwIfAborted();

  t = Date.now();
  const derived = await makeDerivatives(extractedDir, barcode, outDir);
  const tDerive = Date.now() - t;
  stop.throwIfAborted();

  const notes = [...derived.notes];
  if (checksum.unlisted.length > 0) {
    notes.unshift(
      `${checksum.unlisted.length} file(s) are not listed in checksum.md5, so their contents were not checked: ${listNames(checksum.unlisted)}.`,
    );
  }
  if (!checksum.hadChecksumFile) notes.unshift('The archive has no checksum.md5, so file contents could not be verified.');
  return {
    barcode,
    archive: opts.archive,
    ...(decryptedPath ? { decryptedPath } : {}),
    decryptedBytes: unpacked.decryptedBytes,
    extractedDir,
    files: unpacked.files,
    bytes: unpacked.bytes,
    checksum,
    ocrPath: derived.ocrPath,
    pageCount: derived.pageCount,
    marcPath: derived.marcPath,
    hasMarc: derived.hasMarc,
    notes,
    timingsMs: { decryptAndExtract: tDecrypt, verify: tVerify, derivatives: tDerive },
  };
}

/**
 * Makes sure `outDir` is ours to fill: absent (then created, and the first folder created is
 * returned so a failure can remove it) or an empty real folder. Never a symbolic link.
 */
async function claimOutputFolder(outDir: string): Promise<string | undefined> {
  const info = await lstat(outDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (info) {
    if (info.isSymbolicLink())
      throw new OutputExistsError(`The output folder ${outDir} is a symbolic link; give a real folder (unpack never follows links).`);
    if (!info.isDirectory()) throw new OutputExistsError(`The output folder ${outDir} exists and is not a folder.`);
    const existing = await readdir(outDir);
    if (existing.length > 0) {
      throw new OutputExistsError(
        `The output folder ${outDir} is not empty (${listNames(existing, 3)}); give an empty or new folder (unpack never overwrites).`,
      );
    }
    return undefined;
  }
  return mkdir(outDir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Removes what the run created: the folders it made, or only its own outputs in a folder it was given. */
async function removeOutputs(created: string | undefined, outputs: string[]): Promise<void> {
  if (created !== undefined) {
    await rm(created, { recursive: true, force: true });
    return;
  }
  const names = outputs.flatMap((p) => [p, `${p}.part`]);
  await Promise.all(names.map((p) => rm(p, { recursive: true, force: true })));
}

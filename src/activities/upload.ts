/**
 * Stage 07, first half: upload the decrypted archive and the derivatives, check what the store holds
 * against digests of the local bytes, record the keys, the storage and the fixity summary in the token
 * (`stored`, the token stays in 06_processed), store a copy of the token and the book's fixity manifest
 * (`<barcode>.manifest.json`: key, size, MD5 and SHA-256 of every object) beside them. Nothing local
 * is removed here (that is the clean-up's job, after this reports).
 *
 * Fixity: the archive's MD5 and SHA-256 are those decryption took on the bytes it wrote (the token
 * carries them; issue 23), so the archive is read once here, to be sent; for the derivatives (and
 * tokens of older workers) MD5 and SHA-256 are computed in one streaming pass before they go up.
 * S3 gets Content-MD5 on every PUT and part, so the server refuses damaged bytes itself; afterwards
 * every object is read back, streaming, and hashed (an ETag is no digest for multipart uploads, and a
 * server or proxy can lie in it). A copy that does not match is removed and the attempt fails as a
 * transient storage fault (FixityMismatchError): the book is never recorded stored on it, unless the
 * local file no longer hashes to decryption's digest (then LocalCopyDamagedError: download again).
 * An archive already in storage is not sent again only when its content digest matches the local one
 * (its GRIN ETag metadata and size merely select it for that check).
 *
 * Multipart progress is heartbeated so a retry continues the same upload; an upload that is being
 * given up (an error retrying cannot fix, an operator's cancel, the last attempt) is aborted so the
 * server does not keep its parts. The activity heartbeats while it transfers, so a cancel reaches it
 * mid-PUT; a cancelled book's objects written by this run (never recorded as stored) are deleted.
 *
 * Run again after a crash at any point, it: continues an interrupted multipart upload from its
 * heartbeated checkpoint; skips the archive once storage holds these very bytes; puts the small
 * derivatives, the token copy and the manifest again. If the clean-up already removed the local files
 * (a crash before it moved the token), it checks every object the stored manifest lists against
 * storage by content digest and reports the book as uploaded.
 */
import { Context } from '@temporalio/activity';
import { join } from 'node:path';
import { storageKey } from '../storage/layout';
import {
  checkStoredCopy,
  digestBytes,
  digestFile,
  FixityMismatchError,
  manifestKeyFor,
  parseManifest,
  sameContent,
  type ContentDigest,
  type FixityManifest,
  type ManifestEntry,
} from '../storage/fixity';
import type { BookStorage, UploadCheckpoint } from '../storage/types';
import { PipelineError } from '../common/errors';
import { bookPaths, type ActivityDeps } from './deps';
import { isPermanent } from './failures';
import { exists, LocalCopyMissingError, requireLocalFile } from './stage-state';
import type { BookToken, TokenFixity } from '../buckets/token';
import { BookNotOnBoardError } from '../buckets/board';

export interface UploadResult {
  keys: Record<string, string>;
  /** True when storage already held the archive's very bytes and it was not sent again. */
  archiveSkipped: boolean;
  /** Bytes sent to storage by this run (metrics); absent from results of older workers. */
  bytes?: number;
}

/** What the upload heartbeats: the multipart state, and once stored, the SHA-256 of the verified archive. */
interface UploadHeartbeat {
  checkpoint?: UploadCheckpoint;
  /** Set after the archive is stored and verified, so a retry (even a forced one) does not send it again. */
  archiveStored?: string;
}

/** How often the upload heartbeats while it transfers (the SDK throttles to the heartbeat timeout). */
const HEARTBEAT_EVERY_MS = 5_000;

export function createUploadActivity(deps: ActivityDeps) {
  return {
    async uploadBook(input: { barcode: string; force?: boolean }): Promise<UploadResult> {
      const { barcode } = input;
      const { storage, board } = deps;
      // Captured, not looked up in callbacks: those may run in another activity's async context
      // (pooled connections carry the context of the activity that opened them).
      const activity = Context.current();
      const signal = activity.cancellationSignal;
      const layout = deps.config.storage.layout;
      const paths = bookPaths(deps.config.processingDir, barcode);
      const token = await board.get(barcode);
      if (!token) throw new BookNotOnBoardError(barcode);
      const keys = {
        archive: storageKey(layout, 'archive', barcode),
        ocr: storageKey(layout, 'ocr', barcode),
        marc: storageKey(layout, 'marc', barcode),
        token: storageKey(layout, 'token', barcode),
      };
      const manifestKey = manifestKeyFor(keys.token);
      if (token.stored?.archive && !(await exists(paths.decrypted))) {
        // The clean-up ran (it removes the local files before it moves the token to 07_stored).
        await confirmStored(storage, barcode, token, manifestKey, paths.decrypted);
        return { keys: { ...keys, manifest: token.fixity?.manifest ?? manifestKey }, archiveSkipped: true, bytes: 0 };
      }
      await requireLocalFile(barcode, paths.decrypted, 'decrypted archive');
      const files = {
        archive: paths.decrypted,
        ocr: join(paths.derivatives, `${barcode}_ocr.jsonl.gz`),
        marc: join(paths.derivatives, `${barcode}_marc.json`),
      };
      const acquiredAt = token.stages['03_downloaded'] ?? new Date().toISOString();
      const metadata = {
        barcode,
        grin_etag: token.grinEtag ?? '',
        original_filename: token.grinFilename ?? `${barcode}.tar.gz.gpg`,
        acquired_at: acquiredAt,
      };
      const previous = activity.info.heartbeatDetails as UploadHeartbeat | undefined;
      // A checkpoint of another storage (workers restarted with another bucket) is not continued here.
      const resumeFrom =
        previous?.checkpoint?.key === keys.archive && (previous.checkpoint.location ?? storage.location) === storage.location
          ? previous.checkpoint
          : undefined;

      // Where this upload writes is on the token before it writes: if storage changes mid-upload
      // (workers restarted with another bucket), the old location's partial copies stay accounted for.
      if (!token.uploadedTo?.includes(storage.location)) {
        await board.update(barcode, { uploadedTo: [...(token.uploadedTo ?? []), storage.location] });
      }
      // Objects this run may have written that no token records yet: a cancel removes them.
      const unrecorded = token.stored ? [] : [keys.archive, keys.ocr, keys.marc, keys.token, manifestKey];
      // Until this attempt has news, its heartbeats carry the last attempt's (a crash keeps the checkpoint).
      let beat: UploadHeartbeat = previous ?? {};
      const heartbeat = (details: UploadHeartbeat) => {
        beat = details;
        activity.heartbeat(details);
      };
      const ticker = setInterval(() => activity.heartbeat(beat), HEARTBEAT_EVERY_MS);
      try {
        // The archive's digests were taken on the bytes as decryption wrote them (issue 23): the
        // file is read here only to be sent. Tokens of older workers lack the MD5: one digest pass then.
        const fromDecryption = digestsFromDecryption(token);
        const digests = {
          archive: fromDecryption ?? (await digestFile(files.archive)),
          ocr: await digestFile(files.ocr),
          marc: await digestFile(files.marc),
        };
        // A file that changed since decryption: caught by the digest pass, or (without it) by the
        // read-back below, which then tells a damaged local copy from damaged storage.
        const localDamaged = async (): Promise<LocalCopyDamagedError | null> => {
          if (!token.decryptedSha256) return null;
          const now = await digestFile(files.archive).catch(() => null);
          return now && now.sha256 !== token.decryptedSha256
            ? new LocalCopyDamagedError(barcode, files.archive, token.decryptedSha256, now.sha256)
            : null;
        };
        if (token.decryptedSha256 && digests.archive.sha256 !== token.decryptedSha256) {
          throw new LocalCopyDamagedError(barcode, files.archive, token.decryptedSha256, digests.archive.sha256);
        }
        const localSize = digests.archive.size;
        let sent = 0;
        const existing = await storage.head(keys.archive);
        // Metadata and size only pick a candidate; the content digest decides.
        const candidate =
          !!existing &&
          existing.metadata.grin_etag === (token.grinEtag ?? '') &&
          existing.size === localSize &&
          (!input.force || previous?.archiveStored === digests.archive.sha256);
        const found = candidate ? await storage.readDigest(keys.archive, { signal }) : null;
        const archiveSkipped = !!found && sameContent(digests.archive, found);
        if (archiveSkipped) {
          // A checkpoint from an earlier attempt belongs to an upload nobody will finish now.
          if (resumeFrom) await abortQuietly(storage, resumeFrom);
        } else {
          let latest = resumeFrom;
          try {
            // A resumed multipart upload sends only the parts the checkpoint does not hold.
            sent += localSize - (resumeFrom?.parts.reduce((n, part) => n + part.size, 0) ?? 0);
            await storage.putFile(files.archive, keys.archive, {
              metadata,
              contentType: 'application/gzip',
              resumeFrom,
              md5: digests.archive.md5,
              onCheckpoint: (checkpoint) => {
                latest = checkpoint;
                heartbeat({ checkpoint });
                deps.crashPoint?.('upload:after-part', barcode);
              },
              signal,
            });
          } catch (err) {
            // Content-MD5 from decryption's digest: a server refusing the bytes may mean the file changed.
            const damaged = fromDecryption && !isCancel(activity) ? await localDamaged() : null;
            if (latest && (damaged || isGivingUp(activity, err))) await abortQuietly(storage, latest);
            // What the server kept of those bytes (if it took them) goes: it is not decryption's archive.
            if (damaged) await checkStoredCopy(storage, keys.archive, digests.archive, signal).catch(() => undefined);
            throw damaged ?? err;
          }
          try {
            await checkStoredCopy(storage, keys.archive, digests.archive, signal);
          } catch (err) {
            // checkStoredCopy removed the copy; a local file that differs from decryption's bytes needs a fresh download.
            const damaged = fromDecryption && err instanceof FixityMismatchError ? await localDamaged() : null;
            throw damaged ?? err;
          }
        }
        deps.crashPoint?.('upload:after-archive', barcode);
        heartbeat({ archiveStored: digests.archive.sha256 });

        sent += (
          await storage.putFile(files.ocr, keys.ocr, {
            metadata: { barcode, page_count: String(token.pageCount ?? 0), acquired_at: acquiredAt },
            contentType: 'application/gzip',
            md5: digests.ocr.md5,
            signal,
          })
        ).size;
        await checkStoredCopy(storage, keys.ocr, digests.ocr, signal);
        sent += (
          await storage.putFile(files.marc, keys.marc, {
            metadata: { barcode },
            contentType: 'application/json',
            md5: digests.marc.md5,
            signal,
          })
        ).size;
        await checkStoredCopy(storage, keys.marc, digests.marc, signal);
        deps.crashPoint?.('upload:after-derivatives', barcode);

        const entries: ManifestEntry[] = [
          { artifact: 'archive', key: keys.archive, ...digests.archive },
          { artifact: 'ocr', key: keys.ocr, ...digests.ocr },
          { artifact: 'marc', key: keys.marc, ...digests.marc },
        ];
        const recordedAt = new Date().toISOString();
        // The token copy is listed in the manifest too (it cannot hold its own digest).
        const fixity: TokenFixity = {
          manifest: manifestKey,
          objects: entries.length + 1,
          bytes: entries.reduce((n, e) => n + e.size, 0),
          archiveSha256: digests.archive.sha256,
          recordedAt,
        };
        await refuseIfCancelled(deps, barcode);
        const stored = { ...keys, manifest: manifestKey };
        const uploaded = await board.update(barcode, {
          status: archiveSkipped ? 'uploaded; storage already held this archive (same SHA-256)' : 'uploaded and verified',
          stored,
          storage: storage.location,
          storedIn: { ...storage.identity },
          fixity,
        });
        deps.crashPoint?.('upload:after-token-update', barcode);
        const tokenText = JSON.stringify(uploaded, null, 2);
        const tokenDigest = digestBytes(tokenText);
        await storage.putBytes(tokenText, keys.token, { metadata: { barcode }, contentType: 'application/json', signal });
        await checkStoredCopy(storage, keys.token, tokenDigest, signal);
        deps.crashPoint?.('upload:after-token-object', barcode);
        entries.push({ artifact: 'token', key: keys.token, ...tokenDigest });
        const manifest: FixityManifest = { version: 1, barcode, storage: { ...storage.identity }, createdAt: recordedAt, objects: entries };
        const manifestText = JSON.stringify(manifest, null, 2);
        await storage.putBytes(manifestText, manifestKey, { metadata: { barcode }, contentType: 'application/json', signal });
        await checkStoredCopy(storage, manifestKey, digestBytes(manifestText), signal);
        return { keys: stored, archiveSkipped, bytes: sent };
      } catch (err) {
        // The cancel may not have reached this attempt yet (cancelBook removing the local files broke it).
        const cancelled =
          activity.cancellationDetails?.cancelRequested ||
          err instanceof BookCancelledError ||
          (await board.get(barcode).catch(() => null))?.bucket === 'cancelled';
        // The location stays in the token's uploadedTo: a request the server finishes after our
        // abort (and after these deletes) can still leave an object there, and reconcile finds it.
        if (cancelled) await removeQuietly(storage, unrecorded);
        throw err;
      } finally {
        clearInterval(ticker);
      }
    },
  };
}

/**
 * The archive's size, MD5 and SHA-256 as decryption took them on the bytes it wrote (tokens from
 * issue 23 on), or null when the token lacks any of them (then the upload takes them from the file).
 */
function digestsFromDecryption(token: BookToken): ContentDigest | null {
  const { decryptedBytes: size, decryptedMd5: md5, decryptedSha256: sha256 } = token;
  return size !== undefined && md5 && sha256 ? { size, md5, sha256 } : null;
}

/** An operator's cancel reached this attempt. */
function isCancel(activity: Context): boolean {
  return !!activity.cancellationDetails?.cancelRequested;
}

/** The decrypted archive on disk is not what decryption wrote: only a fresh download gives the right bytes. */
class LocalCopyDamagedError extends PipelineError {
  constructor(barcode: string, path: string, expected: string, found: string) {
    super(
      `The decrypted archive of ${barcode} (${path}) changed on disk since it was decrypted: SHA-256 ${found}, decryption wrote ${expected}. ` +
        'It is not uploaded; the book will be downloaded again (check the processing disk if this repeats).',
      { retryable: false, redownload: true },
    );
  }
}

/** An operator cancelled the book while it was uploading (the token is in `cancelled`). */
class BookCancelledError extends PipelineError {
  constructor(barcode: string) {
    super(`${barcode} was cancelled while it was uploading; the objects this upload wrote were removed`, {
      retryable: false,
      benign: true,
    });
  }
}

/** The workflow may go on to cancelBook without waiting for this activity: never record a cancelled book stored. */
async function refuseIfCancelled(deps: ActivityDeps, barcode: string): Promise<void> {
  const now = await deps.board.get(barcode);
  if (now?.bucket === 'cancelled') throw new BookCancelledError(barcode);
}

/**
 * The book's local files are gone but its token records an upload: true only if storage holds every
 * object its fixity manifest lists, each with the manifest's digests (read back in full). Otherwise,
 * or without a manifest (a token from before manifests, or storage changed since), the book needs
 * downloading again.
 */
async function confirmStored(
  storage: BookStorage,
  barcode: string,
  token: BookToken,
  manifestKey: string,
  localPath: string,
): Promise<void> {
  const missing = () => new LocalCopyMissingError(barcode, localPath, 'decrypted archive');
  if (token.storedIn && token.storedIn.location !== storage.location) throw missing();
  const text = await storage.getBytes(token.fixity?.manifest ?? manifestKey).catch(() => null);
  if (!text) throw missing();
  const manifest = parseManifest(text.toString('utf8'), manifestKey);
  if (token.fixity && manifest.objects.find((o) => o.artifact === 'archive')?.sha256 !== token.fixity.archiveSha256) throw missing();
  for (const entry of manifest.objects) {
    const found = await storage.readDigest(entry.key);
    if (!found || !sameContent(entry, found)) throw missing();
  }
}

/**
 * True when no later attempt will continue this upload: the error is one retrying cannot fix, an
 * operator cancelled the book, or this is the last attempt the retry policy allows. A crash, a
 * heartbeat timeout or a worker shutdown keeps the upload for the next attempt.
 */
function isGivingUp(activity: Context, err: unknown): boolean {
  if (isPermanent(err)) return true;
  if (activity.cancellationDetails?.cancelRequested) return true;
  const { attempt, retryPolicy } = activity.info;
  const max = retryPolicy?.maximumAttempts;
  return !!max && attempt >= max;
}

/** Best effort: if the abort fails, the bucket's lifecycle rule for incomplete uploads is the backstop. */
async function abortQuietly(storage: BookStorage, checkpoint: UploadCheckpoint): Promise<void> {
  await storage.abortUpload(checkpoint).catch(() => undefined);
}

/** Best effort removal of a cancelled book's unrecorded objects. */
async function removeQuietly(storage: BookStorage, keys: string[]): Promise<void> {
  await Promise.all(keys.map((key) => storage.delete(key).catch(() => undefined)));
}

/**
 * Streaming OpenPGP decryption of a passphrase-encrypted archive (what `gpg --symmetric` writes) with
 * openpgp.js v6: file → Web stream → openpgp → Node stream, never the whole archive in memory.
 *
 * Integrity: gpg's SEIPD v1 packets carry an MDC that can only be checked at the very end. openpgp.js
 * buffers the whole plaintext to check it first unless `allowUnauthenticatedStream` is set; we set it
 * (memory is the point) and instead treat the output as untrusted until the stream ends without error:
 * an MDC failure errors the stream at its end, the caller's pipeline rejects, and what was written is
 * deleted. Messages without any integrity protection (SED packets) are refused, as gpg 2.2+ does.
 * AEAD messages (SEIPD v2) are authenticated chunk by chunk by openpgp.js itself.
 *
 * Camellia and IDEA, which openpgp.js lacks, are refused by name with how to decrypt by hand (gpg -d,
 * then `unpack --decrypted`): no cipher code of our own. A wrong passphrase is named as such for every
 * cipher of SEIPD v1 through gpg's quick check (quick-check.ts), armoured files included.
 *
 * Key derivation: for what gpg writes (SKESK v4 with a simple, salted or iterated S2K, SEIPD v1) the
 * session key is derived from the passphrase with node:crypto (s2k.ts) and openpgp.js is given the
 * session key, not the passphrase: its own S2K builds gpg's whole 65 MB iterated input in memory,
 * twice for AES-256 with SHA-1 (measured: ~0.1 s more CPU per book whatever its size, and a process
 * decrypting small files peaked at ~280 MiB RSS against ~105 MiB this way).
 * Anything else (argon2, AEAD, other hashes) goes through openpgp.js from the passphrase as before.
 *
 * Threads: by default the decryption (cipher, MDC hash, openpgp.js's copies) runs in a worker thread
 * (decrypt-thread.ts) so that it and whatever consumes the plaintext (gunzip, untar, hashing, file
 * writes) use two cores, as `gpg --decrypt | tar -xz` does. `thread: 'main'` keeps it in this thread.
 */
import { createWriteStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReadableStream as WebReadableStream, TextDecoderStream } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { decryptFileInWorker, openDecryptedStreamInWorker, workerAvailable } from './decrypt-thread';
import { ArchiveLimitError, DecryptError } from './errors';
import {
  CIPHER_NAMES,
  GPG_ONLY_CIPHERS,
  OPENPGPJS_CIPHERS,
  PgpFormatProblem,
  firstCiphertext,
  inspectPgpFile,
  type BinaryPgpInspection,
  type PgpInspection,
} from './pgp-inspect';
import { quickCheck, quickCheckBytes } from './quick-check';
import { sessionKeyFromPassphrase } from './s2k';
import { PRIVATE_FILE_MODE } from '../common/file-modes';

export interface DecryptOptions {
  /** Called with the running count of encrypted bytes read from `src` (compare with its size). */
  onProgress?: (bytes: number) => void;
  /** Refuse plaintext larger than this (a compressed OpenPGP layer could otherwise fill the disk). */
  maxBytes?: number;
  /**
   * 'worker' (default): decrypt in a worker thread and stream the plaintext back, so decryption and
   * its consumer run in parallel (decryptFile: the thread writes the file itself). 'main': decrypt
   * in the calling thread. Results and errors are the same either way.
   */
  thread?: 'worker' | 'main';
  /**
   * 'worker' only: how long the thread may owe a job any sign of progress before it is taken as
   * stuck, stopped, and the job fails (transient). Default DEFAULT_STALL_MS (decrypt-thread.ts).
   */
  stallMs?: number;
}

/** Large reads: fewer, bigger chunks through openpgp's stream machinery. */
const READ_CHUNK = 1024 * 1024;

type QuickCheck = 'passed' | 'unavailable' | 'not-needed';

/** The decrypted bytes as a Node stream; `bytes` counts what has come out so far. */
export interface DecryptedStream {
  stream: Readable;
  bytes(): number;
}

function wrongPassphrase(label: string): DecryptError {
  return new DecryptError(
    `Could not decrypt ${label}: the GPG passphrase is wrong (or the archive was encrypted for another library). ` +
      'Check the passphrase file configured for this library.',
  );
}

/** A cipher openpgp.js lacks: say which, and how to decrypt the file by hand and carry on. */
function gpgOnlyCipher(label: string, cipherAlgo: number): DecryptError {
  const name = CIPHER_NAMES[cipherAlgo] ?? `cipher #${cipherAlgo}`;
  const plain = label.replace(/\.(gpg|pgp|asc)$/i, '');
  const decrypted = /\.(tar\.gz|tgz)$/i.test(plain) ? plain : `${plain}.tar.gz`;
  return new DecryptError(
    `Could not decrypt ${label}: it is encrypted with ${name}, which this program does not decrypt (openpgp.js lacks it). ` +
      `Decrypt it by hand with \`gpg -d ${label} > ${decrypted}\`, then run \`grin-pipeline unpack --decrypted ${decrypted} --out DIR\`.`,
  );
}

/** Turns whatever openpgp.js threw into a plain-words DecryptError (or a limit error). */
function describeFailure(label: string, err: unknown, quick: QuickCheck): Error {
  if (err instanceof DecryptError || err instanceof ArchiveLimitError) return err;
  const detail = typeof (err as { message?: unknown })?.message === 'string' ? (err as Error).message : String(err);
  if (/decompressed message size/i.test(detail)) {
    return new ArchiveLimitError(`Could not decrypt ${label}: its compressed OpenPGP content unpacks beyond the size limit.`);
  }
  if (/Session key decryption failed/i.test(detail)) return wrongPassphrase(label);
  if (quick === 'unavailable') {
    // Without gpg's quick check a wrong key and damaged data fail the same way: say both.
    return new DecryptError(`Could not decrypt ${label}: either the GPG passphrase is wrong or the file is damaged (${detail}).`, {
      cause: err,
      damaged: true,
    });
  }
  if (/Modification detected|tag mismatch|authenticat|integrity/i.test(detail)) {
    return new DecryptError(
      `Could not decrypt ${label}: the integrity check failed, so the file is damaged or was altered. ` + 'Download it again.',
      { cause: err, damaged: true },
    );
  }
  return new DecryptError(`Could not decrypt ${label}: the file is damaged or incomplete (${detail}). Download it again.`, {
    cause: err,
    damaged: true,
  });
}

type PacketView = BinaryPgpInspection & { head?: Buffer };

/** The packets before the encrypted data, de-armoured if need be (undefined if unknown). */
function packetView(info: PgpInspection): PacketView | undefined {
  return info.kind === 'binary' ? info : info.dearmored;
}

/** Refuses, before any work, messages we know openpgp.js (or our integrity policy) will not take. */
function checkDecryptable(label: string, info: PgpInspection): void {
  const view = packetView(info);
  const gpgOnly = view?.symKeys.find((k) => k.version === 4 && k.cipherAlgo !== undefined && GPG_ONLY_CIPHERS.has(k.cipherAlgo));
  if (gpgOnly) throw gpgOnlyCipher(label, gpgOnly.cipherAlgo!);
  if (info.kind === 'armored') return;
  if (info.symKeys.length === 0) {
    throw new DecryptError(
      info.publicKeyPackets > 0
        ? `Could not decrypt ${label}: it is encrypted to a public key, not with a passphrase.`
        : `Could not decrypt ${label}: it has no passphrase packet, so it is not a symmetric OpenPGP message.`,
    );
  }
  if (info.dataTag === 9) {
    throw new DecryptError(
      `Could not decrypt ${label}: it uses old encryption without integrity protection (no MDC), ` +
        'which cannot tell a damaged or altered file from a good one; gpg 2.2 and later refuse it too.',
    );
  }
  for (const k of info.symKeys) {
    if (k.version === 4 && !k.hasEncryptedSessionKey && k.cipherAlgo !== undefined && !OPENPGPJS_CIPHERS.has(k.cipherAlgo)) {
      const name = CIPHER_NAMES[k.cipherAlgo] ?? `cipher #${k.cipherAlgo}`;
      throw new DecryptError(
        `Could not decrypt ${label}: it is encrypted with ${name}, which is not supported ` +
          '(supported: AES128/192/256, 3DES, CAST5, Blowfish, Twofish). Decrypt it with gpg instead.',
      );
    }
  }
}

/**
 * Starts decrypting `src`. Resolves once the passphrase is known to be right (where a quick check is
 * possible); the returned stream then errors with DecryptError if the data turn out damaged.
 * Destroying the returned stream stops the read of `src`.
 */
export async function openDecryptedStream(src: string, passphrase: string, opts: DecryptOptions = {}): Promise<DecryptedStream> {
  if (opts.thread === 'main' || !workerAvailable()) return openDecryptedStreamInThread(src, passphrase, opts);
  return openDecryptedStreamInWorker(src, passphrase, opts);
}

/**
 * Holds back reading `src` (called with the encrypted bytes read so far; a returned promise delays
 * the next read until it resolves). openpgp.js checks the MDC on a tee of the decrypted data that
 * pulls as fast as it can, so a slow consumer alone does not stop decryption: without a gate the
 * tee queues the difference. The worker thread uses this to keep decryption near its consumer.
 */
export type InputGate = (readBytes: number) => Promise<void> | undefined;

/** How the worker thread tunes openDecryptedStreamInThread (not part of the public options). */
export interface ThreadControl {
  inputGate?: InputGate;
  /** Read size for `src` (default READ_CHUNK). */
  readChunkBytes?: number;
}

/** openDecryptedStream's work in the calling thread (also what the worker thread runs). */
export async function openDecryptedStreamInThread(
  src: string,
  passphrase: string,
  opts: DecryptOptions = {},
  control: ThreadControl = {},
): Promise<DecryptedStream> {
  const label = basename(src);
  let info: PgpInspection;
  try {
    info = await inspectPgpFile(src);
  } catch (err) {
    if (err instanceof PgpFormatProblem) throw new DecryptError(`Could not decrypt ${label}: ${err.message}.`);
    throw err;
  }
  checkDecryptable(label, info);

  const config = {
    allowUnauthenticatedStream: true,
    ...(opts.maxBytes !== undefined ? { maxDecompressedMessageSize: opts.maxBytes } : {}),
  };

  const input = fileSource(src, control.readChunkBytes ?? READ_CHUNK, (readBytes) => {
    opts.onProgress?.(readBytes);
    return control.inputGate?.(readBytes);
  });
  const stopInput = (): void => input.stop();

  let quick: QuickCheck = 'not-needed';
  let plain: Readable;
  try {
    plain = await openWithOpenpgp(label, src, info, input.stream, passphrase, config, (q) => (quick = q));
  } catch (err) {
    stopInput();
    throw describeFailure(label, err, quick);
  }

  let bytesOut = 0;
  const guard = new Transform({
    highWaterMark: READ_CHUNK,
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      bytesOut += chunk.length;
      if (opts.maxBytes !== undefined && bytesOut > opts.maxBytes) {
        cb(new ArchiveLimitError(`Could not decrypt ${label}: the decrypted data exceed the limit of ${opts.maxBytes} bytes.`));
        return;
      }
      cb(null, chunk);
    },
  });
  plain.on('error', (err) => guard.destroy(describeFailure(label, err, quick)));
  // The error may come before the caller has attached its pipeline; the pipeline still sees it
  // (the stream is left errored), this only keeps it from being an unhandled 'error' event.
  guard.on('error', () => undefined);
  guard.on('close', () => {
    plain.destroy();
    stopInput();
  });
  plain.pipe(guard);
  return { stream: guard, bytes: () => bytesOut };
}

/**
 * `src` as the Web stream openpgp.js reads, straight from a file handle: each chunk is a fresh
 * buffer of `chunkBytes` read into directly, handed over as is. (Readable.toWeb over a file stream
 * copies every chunk once more, and its Node stream and counting transform cost per chunk.)
 * `onRead` gets the running count of bytes read; a promise it returns holds back the next read.
 * `stop()` ends reading: the file is closed and a pending or later pull ends the stream.
 */
function fileSource(
  src: string,
  chunkBytes: number,
  onRead: (readBytes: number) => Promise<void> | undefined,
): { stream: WebReadableStream<Uint8Array>; stop(): void } {
  let handle: FileHandle | undefined;
  let stopped = false;
  let readBytes = 0;
  const close = (): void => {
    const h = handle;
    handle = undefined;
    void h?.close().catch(() => undefined);
  };
  const stream = new WebReadableStream<Uint8Array>(
    {
      async start() {
        handle = await open(src, 'r');
        if (stopped) close();
      },
      async pull(controller) {
        if (stopped || !handle) {
          controller.close();
          return;
        }
        // Not zero-filled: only the bytes read are handed out.
        const buffer = Buffer.allocUnsafeSlow(chunkBytes);
        let bytesRead: number;
        try {
          ({ bytesRead } = await handle.read(buffer, 0, chunkBytes, null));
        } catch (err) {
          close();
          if (stopped) return controller.close();
          throw err;
        }
        if (bytesRead === 0 || stopped) {
          close();
          controller.close();
          return;
        }
        readBytes += bytesRead;
        const wait = onRead(readBytes);
        if (wait) await wait;
        if (stopped) return controller.close();
        controller.enqueue(new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead));
      },
      cancel() {
        stopped = true;
        close();
      },
    },
    { highWaterMark: 1 },
  );
  return {
    stream,
    stop() {
      stopped = true;
      close();
    },
  };
}

type OpenpgpConfig = Partial<openpgp.Config>;

/** The openpgp.js route: it parses the message, decrypts the session key and the data. */
async function openWithOpenpgp(
  label: string,
  src: string,
  info: PgpInspection,
  web: WebReadableStream<Uint8Array>,
  passphrase: string,
  config: OpenpgpConfig,
  setQuick: (quick: QuickCheck) => void,
): Promise<Readable> {
  const message =
    info.kind === 'armored'
      ? await openpgp.readMessage({ armoredMessage: web.pipeThrough(new TextDecoderStream()), config })
      : await openpgp.readMessage({ binaryMessage: web, config });

  const view = packetView(info);
  // The key derivation with node:crypto where the packets are plain SKESK v4 + SEIPD v1 (what gpg
  // writes), else openpgp.js's own from the passphrase.
  let sessionKeys = view ? sessionKeysWithNodeCrypto(label, view, passphrase) : null;
  if (sessionKeys === null) {
    try {
      sessionKeys = await openpgp.decryptSessionKeys({ message, passwords: [passphrase], config });
    } catch {
      throw wrongPassphrase(label);
    }
  }
  // A session key inside the passphrase packet may name a cipher openpgp.js lacks (gpg -c -e does that).
  for (const key of sessionKeys) {
    const id: number | undefined = key.algorithm === null ? undefined : openpgp.enums.symmetric[key.algorithm];
    if (id !== undefined && GPG_ONLY_CIPHERS.has(id)) throw gpgOnlyCipher(label, id);
  }
  if (view && view.dataTag === 18 && view.dataVersion === 1) {
    let quick: QuickCheck;
    ({ sessionKeys, quick } = await pickByQuickCheck(label, src, info, sessionKeys));
    setQuick(quick);
  } else if (info.kind === 'armored' && !view) {
    setQuick('unavailable');
  }

  // A null algorithm (SEIPD v2 keys) is what openpgp.js itself passes on; its type says otherwise.
  const keys = sessionKeys as openpgp.SessionKey[];
  const result = await openpgp.decrypt({ message, sessionKeys: keys, format: 'binary', config });
  return Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>, { highWaterMark: READ_CHUNK });
}

/**
 * The candidate session keys of a SKESK v4 + SEIPD v1 message, derived with node:crypto (s2k.ts),
 * or null when any passphrase packet needs openpgp.js (argon2, AEAD, an unusual hash or cipher).
 * Throws the wrong-passphrase error when every packet's encrypted session key decrypts to nonsense.
 */
function sessionKeysWithNodeCrypto(label: string, view: PacketView, passphrase: string): openpgp.DecryptedSessionKey[] | null {
  if (view.dataTag !== 18 || view.dataVersion !== 1 || view.symKeys.length === 0) return null;
  const keys: openpgp.DecryptedSessionKey[] = [];
  for (const packet of view.symKeys) {
    const key = sessionKeyFromPassphrase(packet, passphrase);
    if (key === null) return null;
    if (key === 'wrong') continue;
    if (GPG_ONLY_CIPHERS.has(key.cipherAlgo)) throw gpgOnlyCipher(label, key.cipherAlgo);
    keys.push({ data: key.data, algorithm: openpgp.enums.read(openpgp.enums.symmetric, key.cipherAlgo) });
  }
  if (keys.length === 0) throw wrongPassphrase(label);
  return keys;
}

/** Keeps the session key that passes gpg's quick check; none passing means a wrong passphrase. */
async function pickByQuickCheck(
  label: string,
  src: string,
  info: PgpInspection,
  candidates: openpgp.DecryptedSessionKey[],
): Promise<{ sessionKeys: openpgp.DecryptedSessionKey[]; quick: QuickCheck }> {
  let unavailable = false;
  for (const key of candidates) {
    const algo = key.algorithm === null ? undefined : openpgp.enums.symmetric[key.algorithm];
    const need = algo === undefined ? null : quickCheckBytes(algo);
    const ciphertext = need === null ? null : await firstCiphertext(src, info, need);
    const ok = algo === undefined || !ciphertext ? null : quickCheck(algo, key.data, ciphertext);
    if (ok === true) return { sessionKeys: [key], quick: 'passed' };
    if (ok === null) unavailable = true;
  }
  if (unavailable) return { sessionKeys: candidates, quick: 'unavailable' };
  throw wrongPassphrase(label);
}

/**
 * Decrypts `src` into `dest`. On any failure `dest` is deleted and a DecryptError (or
 * ArchiveLimitError when `maxBytes` is exceeded) is thrown; the passphrase never appears in messages.
 */
export async function decryptFile(src: string, dest: string, passphrase: string, opts: DecryptOptions = {}): Promise<{ bytes: number }> {
  if (opts.thread !== 'main' && workerAvailable()) return decryptFileInWorker(src, dest, passphrase, opts);
  const decrypted = await openDecryptedStreamInThread(src, passphrase, opts);
  try {
    await pipeline(decrypted.stream, createWriteStream(dest, { highWaterMark: READ_CHUNK, mode: PRIVATE_FILE_MODE }));
  } catch (err) {
    await rm(dest, { force: true });
    throw err;
  }
  return { bytes: decrypted.bytes() };
}

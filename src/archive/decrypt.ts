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
 * Camellia and IDEA, which openpgp.js lacks, are decrypted by node-seipd.ts (SKESK v4 + SEIPD v1, what
 * gpg writes; Camellia with node:crypto, IDEA with idea.ts); openpgp.js then only parses the plaintext
 * packets (compression, literal data).
 *
 * Threads: by default the decryption (cipher, MDC hash, openpgp.js's copies) runs in a worker thread
 * (decrypt-thread.ts) so that it and whatever consumes the plaintext (gunzip, untar, hashing, file
 * writes) use two cores, as `gpg --decrypt | tar -xz` does. `thread: 'main'` keeps it in this thread.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform, pipeline as streamPipeline, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReadableStream as WebReadableStream, TextDecoderStream } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { decryptFileInWorker, openDecryptedStreamInWorker, workerAvailable } from './decrypt-thread';
import { ArchiveLimitError, DecryptError } from './errors';
import { NodeSeipdUnsupported, packetBodyExtractor, seipdV1Decryptor, sessionKeyFromSkesk, type NodeSessionKey } from './node-seipd';
import {
  CIPHER_NAMES,
  NODE_CFB,
  NODE_ONLY_CIPHERS,
  OPENPGPJS_CIPHERS,
  PgpFormatProblem,
  inspectPgpFile,
  quickCheckCiphertext,
  quickCheckSessionKey,
  type BinaryPgpInspection,
  type PgpInspection,
} from './pgp-inspect';

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
    return new DecryptError(
      `Could not decrypt ${label}: either the GPG passphrase is wrong or the file is damaged (${detail}).`,
      { cause: err, damaged: true },
    );
  }
  if (/Modification detected|tag mismatch|authenticat|integrity/i.test(detail)) {
    return new DecryptError(
      `Could not decrypt ${label}: the integrity check failed, so the file is damaged or was altered. ` +
        'Download it again.',
      { cause: err, damaged: true },
    );
  }
  return new DecryptError(
    `Could not decrypt ${label}: the file is damaged or incomplete (${detail}). Download it again.`,
    { cause: err, damaged: true },
  );
}

type PacketView = BinaryPgpInspection & { head?: Buffer };

/** The packets before the encrypted data, de-armoured if need be (undefined if unknown). */
function packetView(info: PgpInspection): PacketView | undefined {
  return info.kind === 'binary' ? info : info.dearmored;
}

/** True when the message needs node-seipd.ts: a passphrase packet for a cipher openpgp.js lacks. */
function needsNodeCipher(view: PacketView | undefined): boolean {
  return (
    view !== undefined &&
    view.symKeys.some((k) => k.version === 4 && k.cipherAlgo !== undefined && NODE_ONLY_CIPHERS.has(k.cipherAlgo))
  );
}

/** Refuses, before any work, messages we know openpgp.js (or our integrity policy) will not take. */
function checkDecryptable(label: string, info: PgpInspection): void {
  const view = packetView(info);
  if (view && needsNodeCipher(view) && (view.dataTag !== 18 || view.dataVersion !== 1)) {
    throw new DecryptError(
      `Could not decrypt ${label}: Camellia and IDEA are supported only in gpg's usual format (SEIPD v1 with MDC); ` +
        'this file uses another one. Decrypt it with gpg instead.',
    );
  }
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
  if (needsNodeCipher(view)) return;
  for (const k of info.symKeys) {
    if (k.version === 4 && !k.hasEncryptedSessionKey && k.cipherAlgo !== undefined && !OPENPGPJS_CIPHERS.has(k.cipherAlgo)) {
      const name = CIPHER_NAMES[k.cipherAlgo] ?? `cipher #${k.cipherAlgo}`;
      throw new DecryptError(
        `Could not decrypt ${label}: it is encrypted with ${name}, which is not supported ` +
          '(supported: AES128/192/256, 3DES, CAST5, Blowfish, Twofish, Camellia128/192/256, IDEA). ' +
          'Decrypt it with gpg instead.',
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

  let readBytes = 0;
  const readChunk = control.readChunkBytes ?? READ_CHUNK;
  const file = createReadStream(src, { highWaterMark: readChunk });
  const counted = new Transform({
    highWaterMark: readChunk,
    transform(chunk: Buffer, _enc, cb) {
      readBytes += chunk.length;
      opts.onProgress?.(readBytes);
      const wait = control.inputGate?.(readBytes);
      if (wait) void wait.then(() => cb(null, chunk));
      else cb(null, chunk);
    },
  });
  file.on('error', (e) => counted.destroy(e));
  file.pipe(counted);
  const stopInput = (): void => {
    file.destroy();
    counted.destroy();
  };

  let quick: QuickCheck = 'not-needed';
  let plain: Readable;
  try {
    const view = packetView(info);
    const session =
      view && needsNodeCipher(view)
        ? await pickNodeSessionKey(label, src, view, passphrase)
        : await nodeSessionInsideEsk(src, view, passphrase);
    if (view && session) {
      quick = 'passed';
      plain = await openNodeSeipd(counted, info.kind === 'armored', view.dataPacketOffset, session, config);
    } else {
      plain = await openWithOpenpgp(label, src, info, counted, passphrase, config, (q) => (quick = q));
    }
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

type OpenpgpConfig = Partial<openpgp.Config>;

/** The openpgp.js route: it parses the message, decrypts the session key and the data. */
async function openWithOpenpgp(
  label: string,
  src: string,
  info: PgpInspection,
  input: Readable,
  passphrase: string,
  config: OpenpgpConfig,
  setQuick: (quick: QuickCheck) => void,
): Promise<Readable> {
  const web = Readable.toWeb(input) as unknown as WebReadableStream<Uint8Array>;
  const message =
    info.kind === 'armored'
      ? await openpgp.readMessage({ armoredMessage: web.pipeThrough(new TextDecoderStream()), config })
      : await openpgp.readMessage({ binaryMessage: web, config });

  let sessionKeys: openpgp.DecryptedSessionKey[];
  try {
    sessionKeys = await openpgp.decryptSessionKeys({ message, passwords: [passphrase], config });
  } catch {
    throw wrongPassphrase(label);
  }
  if (info.kind === 'binary' && info.dataTag === 18 && info.dataVersion === 1) {
    let quick: QuickCheck;
    ({ sessionKeys, quick } = await pickByQuickCheck(label, src, info.ciphertextOffset, sessionKeys));
    setQuick(quick);
  } else if (info.kind === 'armored') {
    setQuick('unavailable');
  }

  // A null algorithm (SEIPD v2 keys) is what openpgp.js itself passes on; its type says otherwise.
  const keys = sessionKeys as openpgp.SessionKey[];
  const result = await openpgp.decrypt({ message, sessionKeys: keys, format: 'binary', config });
  return Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>, { highWaterMark: READ_CHUNK });
}

/**
 * The node-seipd.ts route for ciphers openpgp.js lacks: we decrypt the SEIPD packet
 * and check its MDC; openpgp.js reads the plaintext packets (decompression, literal data). `verify`
 * without keys is openpgp.js's way to read an unencrypted message to its end, so errors of our
 * stream (a bad MDC at the very end) reach the data stream it returns.
 */
async function openNodeSeipd(
  input: Readable,
  armored: boolean,
  dataPacketOffset: number,
  session: NodeSessionKey,
  config: OpenpgpConfig,
): Promise<Readable> {
  let packets = input;
  if (armored) {
    const text = (Readable.toWeb(input) as unknown as WebReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream());
    // openpgp.js's types name only a string; its readMessage passes streams to unarmor too.
    const { data } = await openpgp.unarmor(text as unknown as string, config as openpgp.Config);
    packets = Readable.fromWeb(data as unknown as WebReadableStream<Uint8Array>, { highWaterMark: READ_CHUNK });
  }
  const decryptor = seipdV1Decryptor(session);
  streamPipeline(packets, packetBodyExtractor(dataPacketOffset), decryptor, () => undefined);
  const web = Readable.toWeb(decryptor) as unknown as WebReadableStream<Uint8Array>;
  const message = await openpgp.readMessage({ binaryMessage: web, config });
  const result = await openpgp.verify({ message, verificationKeys: [], format: 'binary', config });
  return Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>, { highWaterMark: READ_CHUNK });
}

/**
 * The session key of the first passphrase packet that passes gpg's quick check (node-seipd.ts route);
 * `unsupported` says why no packet could be tried at all.
 */
async function findNodeSessionKey(
  src: string,
  info: PacketView,
  passphrase: string,
): Promise<{ session?: NodeSessionKey; unsupported?: string }> {
  let unsupported: string | undefined;
  let tried = false;
  for (const packet of info.symKeys) {
    let session: NodeSessionKey;
    try {
      session = sessionKeyFromSkesk(passphrase, packet);
    } catch (err) {
      if (!(err instanceof NodeSeipdUnsupported)) throw err;
      unsupported = err.message;
      continue;
    }
    tried = true;
    // A wrong passphrase on an encrypted session key gives a random cipher id and key length.
    const cfb = NODE_CFB[session.cipherAlgo];
    if (!cfb || (cfb.keySize !== undefined && cfb.keySize !== session.key.length)) continue;
    const passed = info.head
      ? quickCheckCiphertext(info.head.subarray(info.ciphertextOffset), session.cipherAlgo, session.key)
      : await quickCheckSessionKey(src, info.ciphertextOffset, session.cipherAlgo, session.key);
    if (passed) return { session };
  }
  return tried ? {} : { unsupported };
}

/** Like findNodeSessionKey, but a failure is the operator's DecryptError. */
async function pickNodeSessionKey(
  label: string,
  src: string,
  info: PacketView,
  passphrase: string,
): Promise<NodeSessionKey> {
  const { session, unsupported } = await findNodeSessionKey(src, info, passphrase);
  if (session) return session;
  if (unsupported !== undefined) throw new DecryptError(`Could not decrypt ${label}: ${unsupported}. Decrypt it with gpg instead.`);
  throw wrongPassphrase(label);
}

/**
 * A passphrase packet protected by an AES key can carry a Camellia or IDEA session key (gpg -c -e
 * --cipher-algo CAMELLIA256 writes that): only decrypting it tells, so look before choosing the route.
 */
async function nodeSessionInsideEsk(
  src: string,
  info: PacketView | undefined,
  passphrase: string,
): Promise<NodeSessionKey | undefined> {
  if (!info || info.dataTag !== 18 || info.dataVersion !== 1) return undefined;
  if (!info.symKeys.some((k) => k.version === 4 && k.encryptedSessionKey)) return undefined;
  const { session } = await findNodeSessionKey(src, info, passphrase);
  return session && NODE_ONLY_CIPHERS.has(session.cipherAlgo) ? session : undefined;
}

/** Keeps the session key that passes gpg's quick check; none passing means a wrong passphrase. */
async function pickByQuickCheck(
  label: string,
  src: string,
  ciphertextOffset: number,
  candidates: openpgp.DecryptedSessionKey[],
): Promise<{ sessionKeys: openpgp.DecryptedSessionKey[]; quick: QuickCheck }> {
  let unavailable = false;
  for (const key of candidates) {
    const algo = key.algorithm === null ? undefined : openpgp.enums.symmetric[key.algorithm];
    const ok = algo === undefined ? null : await quickCheckSessionKey(src, ciphertextOffset, algo, key.data);
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
export async function decryptFile(
  src: string,
  dest: string,
  passphrase: string,
  opts: DecryptOptions = {},
): Promise<{ bytes: number }> {
  if (opts.thread !== 'main' && workerAvailable()) return decryptFileInWorker(src, dest, passphrase, opts);
  const decrypted = await openDecryptedStreamInThread(src, passphrase, opts);
  try {
    await pipeline(decrypted.stream, createWriteStream(dest, { highWaterMark: READ_CHUNK }));
  } catch (err) {
    await rm(dest, { force: true });
    throw err;
  }
  return { bytes: decrypted.bytes() };
}

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decryptFile, openDecryptedStream } from '../../src/archive/decrypt';
import { BATCH_BYTES, WINDOW, decryptThreadStats } from '../../src/archive/decrypt-thread';
import { ArchiveLimitError, DecryptError } from '../../src/archive/errors';
import { decryptAndExtract } from '../../src/archive/extract';
import { DEFAULT_EXTRACT_LIMITS } from '../../src/archive/unpack';
import { freezeDecryptThreads } from '../support/decrypt-thread-under-test';
import { PASSPHRASE, bookEntries, cleanupGpg, encryptWithOpenpgp, gpgEncrypt, makeTarGz, removeDir, tempDir } from './archive-fixtures';

/** Decryption in the worker thread (the default): same bytes, same errors, same clean-up as in-thread. */
describe('decryption in a worker thread', () => {
  let dir: string;
  /** Far larger than the thread's window (4 × 1 MiB), so acknowledgements and batching are exercised. */
  const big = randomBytes(12 * 1024 * 1024 + 12_345);
  let bigFile: string;

  beforeAll(async () => {
    dir = tempDir();
    bigFile = join(dir, 'big.gpg');
    writeFileSync(bigFile, await encryptWithOpenpgp(big));
  });
  afterAll(() => {
    removeDir(dir);
    cleanupGpg();
  });

  it('decrypts in the thread and gives the same bytes as in-thread decryption', async () => {
    const started = decryptThreadStats().jobsStarted;
    const out = join(dir, 'worker.out');
    const { bytes } = await decryptFile(bigFile, out, PASSPHRASE, { thread: 'worker' });
    expect(decryptThreadStats().jobsStarted).toBe(started + 1);
    expect(bytes).toBe(big.length);
    expect(readFileSync(out).equals(big)).toBe(true);

    const inThread = join(dir, 'main.out');
    await decryptFile(bigFile, inThread, PASSPHRASE, { thread: 'main' });
    expect(decryptThreadStats().jobsStarted).toBe(started + 1);
    expect(readFileSync(inThread).equals(big)).toBe(true);
    expect(decryptThreadStats().activeJobs).toBe(0);
  });

  it('holds back while the consumer is stalled (bounded in flight) and still delivers every byte in order', async () => {
    const decrypted = await openDecryptedStream(bigFile, PASSPHRASE);
    const received: Buffer[] = [];
    let bufferedDuringStall = -1;
    const stalling = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        if (received.length > 1) return cb();
        // Stall on the first chunk long enough for the thread to decrypt everything if it could.
        setTimeout(() => {
          bufferedDuringStall = decrypted.stream.readableLength;
          cb();
        }, 1500);
      },
    });
    await pipeline(decrypted.stream, stalling);
    expect(Buffer.concat(received).equals(big)).toBe(true);
    expect(decrypted.bytes()).toBe(big.length);
    // Unacknowledged batches (the window) plus one: far less than the whole plaintext.
    expect(bufferedDuringStall).toBeGreaterThan(0);
    expect(bufferedDuringStall).toBeLessThanOrEqual((WINDOW + 1) * BATCH_BYTES);
  });

  it('runs several decryptions at once without mixing their data', async () => {
    const inputs = [randomBytes(300_000), randomBytes(1_500_000), randomBytes(10)];
    const files = await Promise.all(
      inputs.map(async (data, i) => {
        const file = join(dir, `many-${i}.gpg`);
        writeFileSync(file, await encryptWithOpenpgp(data));
        return file;
      }),
    );
    // Streams sent back in batches and a file written by the thread, all on the same thread at once.
    const streamed = files.map(async (file) => {
      const { stream } = await openDecryptedStream(file, PASSPHRASE);
      const parts: Buffer[] = [];
      for await (const chunk of stream) parts.push(chunk as Buffer);
      return Buffer.concat(parts);
    });
    const written = decryptFile(files[1], join(dir, 'many-1.out'), PASSPHRASE);
    const results = await Promise.all(streamed);
    await written;
    results.forEach((data, i) => expect(data.equals(inputs[i])).toBe(true));
    expect(readFileSync(join(dir, 'many-1.out')).equals(inputs[1])).toBe(true);
    // Jobs share the pool (at most cores - 1 threads) instead of a thread each.
    expect(decryptThreadStats().threads).toBeLessThanOrEqual(Math.max(1, availableParallelism() - 1));
  });

  it('rejects a wrong passphrase with the same error class and message as in-thread, and writes nothing', async () => {
    const plain = join(dir, 'small.bin');
    writeFileSync(plain, randomBytes(100_000));
    const file = join(dir, 'wrong.gpg');
    gpgEncrypt(plain, file);
    const out = join(dir, 'wrong.out');
    const inWorker = await decryptFile(file, out, 'not the passphrase', { thread: 'worker' }).catch((e: unknown) => e);
    const inMain = await decryptFile(file, out, 'not the passphrase', { thread: 'main' }).catch((e: unknown) => e);
    expect(inWorker).toBeInstanceOf(DecryptError);
    expect((inWorker as DecryptError).retryable).toBe(false);
    expect((inWorker as Error).message).toBe((inMain as Error).message);
    expect((inWorker as Error).message).toMatch(/the GPG passphrase is wrong/);
    expect((inWorker as Error).message).not.toContain('not the passphrase');
    expect(existsSync(out)).toBe(false);
    expect(decryptThreadStats().activeJobs).toBe(0);
  });

  it('reports a failed integrity check late in the data as DecryptError and deletes the partial output', async () => {
    const bytes = readFileSync(bigFile);
    bytes[bytes.length - 5] ^= 0x01; // inside the MDC itself, checked after every batch has gone out
    const file = join(dir, 'damaged.gpg');
    writeFileSync(file, bytes);
    const out = join(dir, 'damaged.out');
    const err = await decryptFile(file, out, PASSPHRASE, { thread: 'worker' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptError);
    expect((err as Error).message).toMatch(/integrity check failed/);
    expect(existsSync(out)).toBe(false);
  });

  it('keeps the size limit (ArchiveLimitError) and the code of file-system errors (input and output)', async () => {
    const out = join(dir, 'limited.out');
    await expect(decryptFile(bigFile, out, PASSPHRASE, { maxBytes: 2 * 1024 * 1024 })).rejects.toThrow(ArchiveLimitError);
    expect(existsSync(out)).toBe(false);
    const missing = await decryptFile(join(dir, 'absent.gpg'), out, PASSPHRASE).catch((e: unknown) => e);
    expect((missing as { code?: string }).code).toBe('ENOENT');
    // The thread writes decryptFile's output itself: a destination it cannot create fails the same way.
    const unwritable = await decryptFile(bigFile, join(dir, 'no-such-folder', 'x.out'), PASSPHRASE).catch((e: unknown) => e);
    expect((unwritable as { code?: string }).code).toBe('ENOENT');
    expect(decryptThreadStats().activeJobs).toBe(0);
  });

  it("stops the thread's job when the caller destroys the stream early", async () => {
    const decrypted = await openDecryptedStream(bigFile, PASSPHRASE);
    expect(decryptThreadStats().activeJobs).toBe(1);
    await new Promise<void>((resolve) => decrypted.stream.once('readable', resolve));
    decrypted.stream.destroy();
    expect(decryptThreadStats().activeJobs).toBe(0);
    // The thread is still usable afterwards.
    await decryptFile(bigFile, join(dir, 'after-cancel.out'), PASSPHRASE);
    expect(readFileSync(join(dir, 'after-cancel.out')).equals(big)).toBe(true);
  });

  it('in the calling thread, destroying the stream early stops reading the file and closes it', async () => {
    // openpgp.js's integrity check reads a tee of the data as fast as it can: only stopping the
    // file source ends the reading (a source that kept going would read all 12 MB, then close).
    const fdsOfBigFile = (): number =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === bigFile;
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    let read = 0;
    const decrypted = await openDecryptedStream(bigFile, PASSPHRASE, { thread: 'main', onProgress: (n) => (read = n) });
    await new Promise<void>((resolve) => decrypted.stream.once('readable', resolve));
    expect(fdsOfBigFile()).toBe(1);
    decrypted.stream.destroy();
    // Closing is asynchronous: wait for it (bounded, so a source that never closes fails here).
    for (let i = 0; i < 1500 && fdsOfBigFile() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fdsOfBigFile()).toBe(0);
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(statSync(bigFile).size / 2);
  });

  it('decryptAndExtract removes the .tar.gz and the folder when the thread reports damage', async () => {
    const tarGz = await makeTarGz(bookEntries('B5', ['one', 'two']));
    const enc = await encryptWithOpenpgp(tarGz);
    enc[enc.length - 5] ^= 0x01; // inside the MDC itself: the tar unpacks fine, the check at the end fails
    const file = join(dir, 'B5.tar.gz.gpg');
    writeFileSync(file, enc);
    const tarGzOut = join(dir, 'B5.tar.gz');
    const dest = join(dir, 'B5');
    const limits = { ...DEFAULT_EXTRACT_LIMITS, maxUnpackedBytes: 10_000_000, maxEntries: 100 };
    const err = await decryptAndExtract(file, tarGzOut, dest, PASSPHRASE, limits, { decryptThread: 'worker' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptError);
    expect(existsSync(tarGzOut)).toBe(false);
    expect(existsSync(dest)).toBe(false);
  });

  it('stops a stuck thread, fails its jobs (to be retried) and decrypts on a new thread afterwards', async () => {
    // A book of many pages, so the job is still running when the thread is frozen.
    const tarGz = await makeTarGz(
      bookEntries(
        'B6',
        Array.from({ length: 40 }, () => randomBytes(150_000).toString('base64')),
      ),
    );
    const file = join(dir, 'B6.tar.gz.gpg');
    writeFileSync(file, await encryptWithOpenpgp(tarGz));
    const limits = { ...DEFAULT_EXTRACT_LIMITS, maxUnpackedBytes: 100_000_000, maxEntries: 1000 };
    const started = decryptThreadStats().jobsStarted;

    // Each job's thread is frozen as soon as the job is handed to it: its event loop is blocked for
    // far longer than the stall limit, as a wedged thread's would be, before the job can finish.
    const handedOver = async (n: number) => {
      while (decryptThreadStats().jobsStarted < started + n) await new Promise((r) => setImmediate(r));
      freezeDecryptThreads(20_000);
    };
    const stuck = decryptAndExtract(file, join(dir, 'B6.tar.gz'), join(dir, 'B6'), PASSPHRASE, limits, {
      decryptThread: 'worker',
      decryptStallMs: 300,
    });
    await handedOver(1);
    const stuckFile = decryptFile(bigFile, join(dir, 'stuck.out'), PASSPHRASE, { stallMs: 300 });
    await handedOver(2);
    const errors = await Promise.all([stuck.catch((e: unknown) => e), stuckFile.catch((e: unknown) => e)]);
    for (const err of errors) {
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/decryption thread stopped unexpectedly \(it made no progress for \d+ s/);
      expect(err).not.toBeInstanceOf(DecryptError); // not the archive's fault: transient, the activity retries
    }
    expect(existsSync(join(dir, 'B6.tar.gz'))).toBe(false);
    expect(existsSync(join(dir, 'B6'))).toBe(false);
    expect(existsSync(join(dir, 'stuck.out'))).toBe(false);
    expect(decryptThreadStats().activeJobs).toBe(0);
    expect(decryptThreadStats().jobsStarted).toBe(started + 2);

    // The frozen thread was dropped: the next job gets a new one and completes.
    const again = await decryptAndExtract(file, join(dir, 'B6.tar.gz'), join(dir, 'B6'), PASSPHRASE, limits, { decryptThread: 'worker' });
    expect(again.decryptedBytes).toBe(tarGz.length);
    expect(readFileSync(join(dir, 'B6.tar.gz')).equals(tarGz)).toBe(true);
  });
});

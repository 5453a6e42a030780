/**
 * Fixity benchmark (issue 21): how fast `verify` re-reads stored books, in MB/s (10^6 bytes), against
 * local storage and against a real S3 server (moto, started here unless --endpoint is given); and,
 * for the cost of the upload's own check, how fast the local digest pass and an upload run on the
 * same data. Each book is an archive of --mb MB (random bytes) plus two small derivatives, stored
 * with their fixity manifest by the pipeline's own code (putFile, checkStoredCopy, verifyStoredBook).
 * Rounds alternate local and S3; the median is reported (the machine may be shared).
 *
 *   npm run bench:verify -- [--books N] [--mb SIZE] [--rounds N] [--endpoint http://127.0.0.1:PORT]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BookToken } from '../src/buckets/token';
import { startS3Server, type RunningServer } from '../devkit/devtools/servers';
import {
  checkStoredCopy,
  digestBytes,
  digestFile,
  type ContentDigest,
  type FixityManifest,
  type ManifestEntry,
} from '../src/storage/fixity';
import { LocalStorage } from '../src/storage/local';
import { S3Storage } from '../src/storage/s3';
import type { BookStorage } from '../src/storage/types';
import { verifyStoredBook } from '../src/storage/verify';
import type { StorageLayout } from '../src/config/types';

const LAYOUT: StorageLayout = {
  archive: 'raw/{barcode}/{barcode}.tar.gz',
  ocr: 'full/{barcode}/{barcode}_ocr.jsonl.gz',
  marc: 'meta/{barcode}/{barcode}_marc.json',
  token: 'meta/{barcode}/{barcode}.token.json',
};

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function stringOption(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Book {
  barcode: string;
  files: { archive: string; ocr: string; marc: string };
  digests: Record<'archive' | 'ocr' | 'marc', ContentDigest>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

/** Stores the book as the upload activity does (put, read back and compare, manifest last). */
async function store(storage: BookStorage, book: Book): Promise<void> {
  const entries: ManifestEntry[] = [];
  for (const artifact of ['archive', 'ocr', 'marc'] as const) {
    const key = LAYOUT[artifact].split('{barcode}').join(book.barcode);
    await storage.putFile(book.files[artifact], key);
    await checkStoredCopy(storage, key, book.digests[artifact]);
    entries.push({ artifact, key, ...book.digests[artifact] });
  }
  const manifest: FixityManifest = {
    version: 1,
    barcode: book.barcode,
    storage: storage.identity,
    createdAt: new Date().toISOString(),
    objects: entries,
  };
  const text = JSON.stringify(manifest);
  const key = `meta/${book.barcode}/${book.barcode}.manifest.json`;
  await storage.putBytes(text, key);
  await checkStoredCopy(storage, key, digestBytes(text));
}

function tokenOf(book: Book): BookToken {
  return { barcode: book.barcode, directory: 'BENCH', bucket: '07_stored', stages: {}, updatedAt: new Date().toISOString() };
}

async function main(): Promise<void> {
  const books = option('--books', 4);
  const mb = option('--mb', 64);
  const rounds = option('--rounds', 3);
  const dir = mkdtempSync(join(tmpdir(), 'grin-verify-bench-'));
  let moto: RunningServer | undefined;
  try {
    const endpoint = stringOption('--endpoint') ?? (moto = await startS3Server({ logFile: join(dir, 'moto.log') })).address;
    const s3 = new S3Storage({
      bucket: `verify-bench-${Date.now()}`,
      prefix: 'bench',
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      checksums: 'when_required',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench-secret' },
      partsInFlight: 4,
    });
    await s3.createBucketIfMissing();
    const local = new LocalStorage(join(dir, 'stored'));

    const set: Book[] = [];
    for (let i = 0; i < books; i++) {
      const barcode = `BENCH${String(i).padStart(4, '0')}`;
      const files = {
        archive: join(dir, `${barcode}.tar.gz`),
        ocr: join(dir, `${barcode}_ocr.jsonl.gz`),
        marc: join(dir, `${barcode}_marc.json`),
      };
      writeFileSync(files.archive, randomBytes(mb * 1e6));
      writeFileSync(files.ocr, randomBytes(200_000));
      writeFileSync(files.marc, JSON.stringify({ title: 'A book', pad: 'x'.repeat(4000) }));
      set.push({
        barcode,
        files,
        digests: { archive: await digestFile(files.archive), ocr: await digestFile(files.ocr), marc: await digestFile(files.marc) },
      });
    }
    const totalMb = set.reduce((n, b) => n + b.digests.archive.size + b.digests.ocr.size + b.digests.marc.size, 0) / 1e6;

    const figures: Record<string, number[]> = {
      digest: [],
      storeLocal: [],
      storeS3: [],
      putS3: [],
      verifyLocal: [],
      verifyLocalMd5: [],
      verifyS3: [],
    };
    for (let r = 0; r < rounds; r++) {
      figures.digest.push(
        (
          await timed(async () => {
            for (const b of set) await digestFile(b.files.archive);
          })
        ).ms,
      );
      figures.storeLocal.push(
        (
          await timed(async () => {
            for (const b of set) await store(local, b);
          })
        ).ms,
      );
      figures.storeS3.push(
        (
          await timed(async () => {
            for (const b of set) await store(s3, b);
          })
        ).ms,
      );
      // The same uploads without reading back: what the check costs on top.
      figures.putS3.push(
        (
          await timed(async () => {
            for (const b of set)
              for (const artifact of ['archive', 'ocr', 'marc'] as const)
                await s3.putFile(b.files[artifact], LAYOUT[artifact].split('{barcode}').join(b.barcode));
          })
        ).ms,
      );
      for (const [name, storage, md5] of [
        ['verifyLocal', local, false],
        ['verifyLocalMd5', local, true],
        ['verifyS3', s3, false],
      ] as const) {
        const run = await timed(async () => {
          for (const b of set) {
            const result = await verifyStoredBook(storage, LAYOUT, tokenOf(b), { md5 });
            if (!result.ok) throw new Error(`bench: ${b.barcode} failed verification: ${result.problem}`);
          }
        });
        figures[name].push(run.ms);
      }
    }
    const archiveMb = set.reduce((n, b) => n + b.digests.archive.size, 0) / 1e6;
    const rate = (ms: number, bytes = totalMb) => (bytes / (ms / 1000)).toFixed(0);
    console.log(
      `verify-bench: ${books} books of ${mb} MB (+ derivatives), ${totalMb.toFixed(0)} MB a round, ${rounds} rounds, median of rounds; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(`  S3 server: ${moto ? 'moto (started here)' : endpoint}; node ${process.version}`);
    const row = (label: string, ms: number[], bytes = totalMb) =>
      console.log(`  ${label.padEnd(58)} ${rate(median(ms), bytes).padStart(6)} MB/s  (${ms.map((m) => rate(m, bytes)).join(', ')})`);
    row('digest pass on local files (MD5 + SHA-256, archives only)', figures.digest, archiveMb);
    row('verify against local storage (size + SHA-256, the default)', figures.verifyLocal);
    row('verify --md5 against local storage (MD5 too)', figures.verifyLocalMd5);
    row('verify against S3 (moto)', figures.verifyS3);
    row('store to local storage (write, read back, compare)', figures.storeLocal);
    row('store to S3 (upload, read back, compare)', figures.storeS3);
    row('upload to S3 only (no read-back; for comparison)', figures.putS3);
  } finally {
    await moto?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * The baseline `bench:cost` measures in the same run as the pipeline (issue 23): what the plain tools
 * cost for the same archives on the same machine, `gpg -d | tar -xz` keeping the decrypted archive,
 * then a copy of those bytes into the same kind of storage: `cp` into a folder for the bench's local
 * storage, or `rclone copyto` (rclone's own S3 client, its defaults: one PUT up to 200 MiB, then
 * 5 MiB parts, 4 at a time) to the same S3 server as the pipeline's.
 * Books run `parallel` at a time, as the worker's file activities. CPU and peak RSS come from GNU
 * time around each book's shell (its children: gpg, tee, tar, cp or rclone), so no figure is quoted from
 * an earlier measurement.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BaselineResult {
  books: number;
  wallSeconds: number;
  cpuSeconds: number;
  /** The largest peak RSS of any one process (gpg, tar, cp), MiB. */
  peakRssMiB: number;
}

/** Where the baseline uploads to instead of a folder: an S3 server, with rclone. */
export interface S3Target {
  rclone: string;
  endpoint: string;
  bucket: string;
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** rclone's S3 settings through its environment (no config file; the keys not on the command line). */
function rcloneEnv(s3: S3Target): Record<string, string> {
  return {
    RCLONE_CONFIG: '/dev/null',
    RCLONE_S3_PROVIDER: 'Other',
    RCLONE_S3_ENDPOINT: s3.endpoint,
    RCLONE_S3_REGION: 'us-east-1',
    RCLONE_S3_FORCE_PATH_STYLE: 'true',
    RCLONE_S3_ACCESS_KEY_ID: s3.accessKeyId,
    RCLONE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

/** One book: decrypt, unpack and keep the archive, then copy it to `storeDir` (or upload it); GNU time's figures. */
async function oneBook(
  archive: string,
  passphraseFile: string,
  work: string,
  storeDir: string,
  s3?: S3Target,
): Promise<{ cpu: number; rssMiB: number }> {
  const name = archive
    .split('/')
    .pop()!
    .replace(/\.gpg$/, '');
  const out = join(work, name.replace(/\.tar\.gz$/, ''));
  mkdirSync(out, { recursive: true });
  const timing = join(work, `${name}.time`);
  const decrypt =
    'set -eo pipefail; gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$1" -d "$2" | tee "$3" | tar -xzf - -C "$4"';
  const script = s3 ? `${decrypt}; "$6" copyto "$3" "$5"` : `${decrypt}; cp "$3" "$5"`;
  await run(
    '/usr/bin/time',
    [
      '-o',
      timing,
      '-f',
      '%U %S %M',
      'bash',
      '-c',
      script,
      'baseline',
      passphraseFile,
      archive,
      join(work, name),
      out,
      s3 ? `:s3:${s3.bucket}/${s3.prefix}${name}` : join(storeDir, name),
      ...(s3 ? [s3.rclone] : []),
    ],
    {
      env: { ...process.env, GNUPGHOME: join(work, 'gnupg'), ...(s3 ? rcloneEnv(s3) : {}) },
    },
  );
  const [user, sys, maxKb] = readFileSync(timing, 'utf8').trim().split(/\s+/).slice(-3).map(Number);
  rmSync(out, { recursive: true, force: true });
  rmSync(join(work, name), { force: true });
  return { cpu: user + sys, rssMiB: maxKb / 1024 };
}

/** Runs the baseline over every `.gpg` archive in `archiveDir`, `parallel` at a time, under `work`. */
export async function gpgTarBaseline(
  archiveDir: string,
  passphraseFile: string,
  work: string,
  parallel: number,
  s3?: S3Target,
): Promise<BaselineResult> {
  const archives = readdirSync(archiveDir)
    .filter((f) => f.endsWith('.gpg'))
    .sort()
    .map((f) => join(archiveDir, f));
  const storeDir = join(work, 'storage');
  mkdirSync(join(work, 'gnupg'), { recursive: true, mode: 0o700 });
  mkdirSync(storeDir, { recursive: true });
  let cpu = 0;
  let rss = 0;
  let next = 0;
  const started = Date.now();
  const lane = async () => {
    while (next < archives.length) {
      const r = await oneBook(archives[next++], passphraseFile, work, storeDir, s3);
      cpu += r.cpu;
      rss = Math.max(rss, r.rssMiB);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, lane));
  const wallSeconds = (Date.now() - started) / 1000;
  rmSync(work, { recursive: true, force: true });
  return { books: archives.length, wallSeconds, cpuSeconds: cpu, peakRssMiB: rss };
}

/**
 * File-stage benchmark (issue 4): on one ~300 MB simulator archive, the wall time and peak RSS of
 *   (a) our path: fused decrypt+extract, checksum verification, derivatives (`unpackArchive`),
 *   (b) `gpg --decrypt | tar -xz` (the command-line reference the issue names),
 *   (b') `gpg --decrypt | tee B.tar.gz | tar -xz` (like (a), also keeps the decrypted archive),
 *   (c) four of ours at once in one process (peak RSS of that process).
 * Each measurement runs in its own child process so peak RSS is per process. Rounds alternate
 * between the variants and the median is reported, since the machine may be shared.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/archive-bench.js [--rounds N] [--mb SIZE]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackArchive } from '../src/archive/unpack';
import { writeEncryptedBookArchive } from '../src/simulator/book-content';

const PASSPHRASE = 'bench passphrase: correct horse battery staple';
const PAGE_IMAGE_BYTES = 750_000;

interface Measurement {
  wallMs: number;
  /** Peak resident set, MiB: one process, or the sum of the pipeline's processes' peaks. */
  peakRssMiB: number;
  /** User + system CPU seconds of all processes involved (steadier than wall time on a busy machine). */
  cpuS: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolve({ stdout, stderr, wallMs });
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr}`));
    });
  });
}

/** The cached archive: generated once per size, reused by later runs. */
async function ensureArchive(megabytes: number): Promise<{ archive: string; passFile: string }> {
  const pages = Math.max(1, Math.round((megabytes * 1e6) / PAGE_IMAGE_BYTES));
  const cache = join(tmpdir(), 'grin-archive-bench');
  mkdirSync(cache, { recursive: true });
  const archive = join(cache, `BENCH${pages}.tar.gz.gpg`);
  const passFile = join(cache, 'passphrase.txt');
  writeFileSync(passFile, PASSPHRASE + '\n');
  if (!existsSync(archive)) {
    process.stdout.write(`Generating ${pages}-page archive at ${archive} … `);
    const t = Date.now();
    await writeEncryptedBookArchive(
      { directory: 'BENCH', barcode: `BENCH${pages}`, seed: 1, pages, pageImageBytes: PAGE_IMAGE_BYTES, passphrase: PASSPHRASE },
      archive,
    );
    console.log(`${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  return { archive, passFile };
}

// ---- child modes --------------------------------------------------------------------------------

async function childOurs(archive: string, workDir: string, copies: number, keep: 'all' | 'derivative-inputs'): Promise<void> {
  const started = Date.now();
  await Promise.all(
    Array.from({ length: copies }, (_, i) =>
      unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(workDir, `run${i}`), barcode: `B${i}`, keep }),
    ),
  );
  const usage = process.resourceUsage();
  const result = { innerMs: Date.now() - started, maxRssKiB: usage.maxRSS, cpuS: (usage.userCPUTime + usage.systemCPUTime) / 1e6 };
  console.log(JSON.stringify(result));
}

// ---- measurements -------------------------------------------------------------------------------

async function measureOurs(archive: string, copies: number, keep: 'all' | 'derivative-inputs' = 'all'): Promise<Measurement> {
  const work = mkdtempSync(join(tmpdir(), 'bench-ours-'));
  try {
    const { stdout, wallMs } = await run(process.execPath, [__filename, '--child-ours', archive, work, String(copies), keep]);
    const { maxRssKiB, cpuS } = JSON.parse(stdout.trim().split('\n').pop()!) as { maxRssKiB: number; cpuS: number };
    return { wallMs, peakRssMiB: maxRssKiB / 1024, cpuS };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `gpg --decrypt | [tee B.tar.gz |] tar -xz`, each side under `/usr/bin/time -f %M` for its peak RSS. */
async function measureGpgTar(archive: string, passFile: string, gnupgHome: string, keepTarGz: boolean): Promise<Measurement> {
  const work = mkdtempSync(join(tmpdir(), 'bench-gpg-'));
  const out = join(work, 'x');
  mkdirSync(out);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const gpg = `/usr/bin/time -f 'rss %M cpu %U %S' -o ${q(join(work, 'gpg.rss'))} gpg --batch --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-file ${q(passFile)} --decrypt ${q(archive)}`;
  const tee = keepTarGz ? ` | tee ${q(join(work, 'B.tar.gz'))}` : '';
  const tar = `/usr/bin/time -f 'rss %M cpu %U %S' -o ${q(join(work, 'tar.rss'))} tar -xz -C ${q(out)}`;
  try {
    const { wallMs } = await run('/bin/sh', ['-c', `set -e; ${gpg}${tee} | ${tar}`], { ...process.env, GNUPGHOME: gnupgHome });
    const stats = (f: string): { rss: number; cpu: number } => {
      const m = /rss (\d+) cpu ([\d.]+) ([\d.]+)/.exec(readFileSync(join(work, f), 'utf8'))!;
      return { rss: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) };
    };
    const g = stats('gpg.rss');
    const t = stats('tar.rss');
    // tee is not counted; gzip's peak and CPU are inside tar's (time reports tar's waited-for children too).
    return { wallMs, peakRssMiB: (g.rss + t.rss) / 1024, cpuS: g.cpu + t.cpu };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): { rounds: number; mb: number } {
  const get = (name: string, fallback: number): number => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  return { rounds: get('--rounds', 3), mb: get('--mb', 300) };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child-ours') {
    await childOurs(process.argv[3], process.argv[4], Number(process.argv[5]), process.argv[6] as 'all' | 'derivative-inputs');
    return;
  }
  const { rounds, mb } = parseArgs(process.argv.slice(2));
  const { archive, passFile } = await ensureArchive(mb);
  const size = statSync(archive).size;
  const gnupgHome = mkdtempSync(join(tmpdir(), 'bench-gnupg-'));
  const samples: Record<string, Measurement[]> = { ours: [], oursLean: [], gpgTar: [], gpgTeeTar: [], fourOurs: [] };
  const loads: number[] = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      loads.push(loadavg()[0]);
      process.stdout.write(`round ${r}/${rounds} (load ${loads[loads.length - 1].toFixed(1)}): ours`);
      samples.ours.push(await measureOurs(archive, 1));
      process.stdout.write(', ours (derivative inputs)');
      samples.oursLean.push(await measureOurs(archive, 1, 'derivative-inputs'));
      process.stdout.write(', gpg|tar');
      samples.gpgTar.push(await measureGpgTar(archive, passFile, gnupgHome, false));
      process.stdout.write(', gpg|tee|tar');
      samples.gpgTeeTar.push(await measureGpgTar(archive, passFile, gnupgHome, true));
      process.stdout.write(', four of ours\n');
      samples.fourOurs.push(await measureOurs(archive, 4));
    }
  } finally {
    try {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: gnupgHome }, stdio: 'ignore' });
    } catch {
      // no agent running
    }
    rmSync(gnupgHome, { recursive: true, force: true });
  }

  const summary = Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [
      k,
      { wallMs: median(v.map((m) => m.wallMs)), peakRssMiB: median(v.map((m) => m.peakRssMiB)), cpuS: median(v.map((m) => m.cpuS)) },
    ]),
  ) as Record<keyof typeof samples, Measurement>;
  const ratio = (m: Measurement, base: Measurement): string =>
    `${(m.wallMs / base.wallMs).toFixed(2)} (CPU ${(m.cpuS / base.cpuS).toFixed(2)})`;
  const row = (name: string, m: Measurement, note = ''): string =>
    `| ${name} | ${(m.wallMs / 1000).toFixed(2)} s | ${m.cpuS.toFixed(2)} s | ${m.peakRssMiB.toFixed(0)} MiB | ${note} |`;
  console.log(
    `\nArchive: ${archive} (${(size / 1e6).toFixed(0)} MB), median of ${rounds} round(s), node ${process.version}, ` +
      `1-min load average at round start: ${loads.map((l) => l.toFixed(1)).join(', ')}\n`,
  );
  console.log('| path | wall time | CPU (user+sys) | peak RSS | ratio to (b): wall (CPU) |');
  console.log('|---|---|---|---|---|');
  console.log(row('(a) ours: decrypt+extract in one pass (all files), verify, derivatives', summary.ours, ratio(summary.ours, summary.gpgTar)));
  console.log(row('(a2) same, storing only text/XML/checksum.md5 (every entry still checked and hashed)', summary.oursLean, ratio(summary.oursLean, summary.gpgTar)));
  console.log(row('(b) gpg --decrypt \\| tar -xz', summary.gpgTar, '1'));
  console.log(row("(b') gpg --decrypt \\| tee B.tar.gz \\| tar -xz (also keeps the .tar.gz, like ours)", summary.gpgTeeTar, ratio(summary.gpgTeeTar, summary.gpgTar)));
  console.log(row('(c) four of (a) at once, one process', summary.fourOurs, 'target: peak RSS < 300 MiB'));
  console.log(`\nraw samples: ${JSON.stringify(samples)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * File-stage benchmark (issue 4): on one ~300 MB simulator archive, the wall time and peak RSS of
 *   (a) our path: fused decrypt+extract, checksum verification, derivatives (`unpackArchive`),
 *       with openpgp.js in its worker thread (the default) and, for comparison, in the main thread,
 *   (a2) the same storing only derivative inputs,
 *   (a3) the two-step path the pipeline's activities run: `decryptFile` to `<B>.tar.gz`, then
 *       `extractTarGz` + `verifyChecksums` (re-reading the files) + `makeDerivatives`,
 *   (b) `gpg --decrypt | tar -xz` (the command-line reference the issue names),
 *   (b') `gpg --decrypt | tee B.tar.gz | tar -xz` (like (a), also keeps the decrypted archive),
 *   (c) four of ours at once in one process (peak RSS of that process), (c3) four of (a3) at once.
 * Each measurement runs in its own child process so peak RSS is per process. Rounds alternate
 * between the variants and the median (and the minimum) is reported, since the machine may be shared.
 *
 * What each run wrote is removed only at the end of the whole benchmark (--cleanup-each: after each
 * run, as before): on an ext4 without a journal (this development machine's disk), creating a file
 * skips every inode freed in the last 1–6 minutes (ext4's `recently_deleted`), so a run that follows
 * the deletion of another run's ~1,200 files paid 1–3 s more system CPU, whichever tool it was.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/archive-bench.js [--rounds N] [--mb SIZE] [--only ours,gpgTar,fourOurs]
 *     [--archive FILE.gpg] (any archive encrypted with the bench passphrase, e.g. re-encrypted by gpg)
 *     [--base DIST] (also run (a) from another build's dist/, e.g. the commit before a change: variant "base")
 *     [--cleanup-each]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptFile } from '../src/archive/decrypt';
import { makeDerivatives } from '../src/archive/derivatives';
import { tuneGcForStreamingProcess } from '../src/archive/gc-tuning';
import { extractTarGz, extractTarGzWithDigests } from '../src/archive/extract';
import { DEFAULT_EXTRACT_LIMITS, unpackArchive } from '../src/archive/unpack';
import { verifyChecksums } from '../src/archive/verify';
import { writeEncryptedBookArchive } from '../devkit/simulator/book-content';

const PASSPHRASE = 'bench passphrase: correct horse battery staple';
const PAGE_IMAGE_BYTES = 750_000;

interface Measurement {
  wallMs: number;
  /** Peak resident set, MiB: one process, or the sum of the pipeline's processes' peaks. */
  peakRssMiB: number;
  /** User + system CPU seconds of all processes involved (steadier than wall time on a busy machine). */
  cpuS: number;
  /** The user and system parts of cpuS (undefined from a base build that did not report them). */
  userS?: number;
  sysS?: number;
  /** Our path only: milliseconds per step of the first copy. */
  steps?: Record<string, number>;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stdout: string; stderr: string; wallMs: number }> {
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

/** The passphrase file for an archive given with --archive (made with the bench passphrase). */
function writePassFile(): string {
  const cache = join(tmpdir(), 'grin-archive-bench');
  mkdirSync(cache, { recursive: true });
  const passFile = join(cache, 'passphrase.txt');
  writeFileSync(passFile, PASSPHRASE + '\n');
  return passFile;
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

type Thread = 'worker' | 'main';

interface ChildSpec {
  /**
   * 'fused': unpackArchive; 'two-step': the activities' decryptFile, extractTarGz, verifyChecksums,
   * makeDerivatives; 'two-step-digests': the same, but verifyChecksums uses the digests taken while unpacking.
   */
  path: 'fused' | 'two-step' | 'two-step-digests';
  copies: number;
  keep: 'all' | 'derivative-inputs';
  thread: Thread;
  /** 'default': V8's own GC settings; otherwise those `grin-pipeline unpack` sets (src/archive/gc-tuning.ts). */
  gc?: 'default';
}

/** What the pipeline's stages 04–06 call, in order, on one book (src/activities/{decrypt,extract,process}.ts). */
async function twoStep(
  archive: string,
  outDir: string,
  barcode: string,
  thread: Thread,
  useDigests: boolean,
): Promise<Record<string, number>> {
  const steps: Record<string, number> = {};
  let t = Date.now();
  mkdirSync(outDir, { recursive: true });
  const decrypted = join(outDir, `${barcode}.tar.gz`);
  const extracted = join(outDir, barcode);
  await decryptFile(archive, decrypted, PASSPHRASE, { thread });
  steps.decryptMs = Date.now() - t;
  t = Date.now();
  let knownMd5: Map<string, string> | undefined;
  if (useDigests) knownMd5 = (await extractTarGzWithDigests(decrypted, extracted, DEFAULT_EXTRACT_LIMITS)).md5;
  else await extractTarGz(decrypted, extracted, DEFAULT_EXTRACT_LIMITS);
  steps.extractMs = Date.now() - t;
  t = Date.now();
  await verifyChecksums(extracted, { knownMd5 });
  steps.verifyMs = Date.now() - t;
  t = Date.now();
  await makeDerivatives(extracted, barcode, join(outDir, 'derivatives'));
  steps.derivativesMs = Date.now() - t;
  return steps;
}

async function childOurs(archive: string, workDir: string, spec: ChildSpec): Promise<void> {
  if (spec.gc !== 'default') tuneGcForStreamingProcess();
  const started = Date.now();
  const steps = await Promise.all(
    Array.from({ length: spec.copies }, async (_, i) => {
      const outDir = join(workDir, `run${i}`);
      if (spec.path !== 'fused') return twoStep(archive, outDir, `B${i}`, spec.thread, spec.path === 'two-step-digests');
      const summary = await unpackArchive({
        archive,
        passphrase: PASSPHRASE,
        outDir,
        barcode: `B${i}`,
        keep: spec.keep,
        decryptThread: spec.thread,
      });
      return summary.timingsMs as unknown as Record<string, number>;
    }),
  );
  const usage = process.resourceUsage();
  const result = {
    innerMs: Date.now() - started,
    maxRssKiB: usage.maxRSS,
    cpuS: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    userS: usage.userCPUTime / 1e6,
    sysS: usage.systemCPUTime / 1e6,
    steps: steps[0],
  };
  console.log(JSON.stringify(result));
}

// ---- measurements -------------------------------------------------------------------------------

/** Where each run writes; removed at once (--cleanup-each) or with everything at the end (see the top). */
interface WorkDirs {
  make(prefix: string): string;
  done(dir: string): void;
}

/** `script`: this file, or another build's archive-bench.js (--base). */
async function measureOurs(archive: string, spec: ChildSpec, work: WorkDirs, script = __filename): Promise<Measurement> {
  const dir = work.make('bench-ours-');
  try {
    const { stdout, wallMs } = await run(process.execPath, [script, '--child-ours', archive, dir, JSON.stringify(spec)]);
    const { maxRssKiB, cpuS, userS, sysS, steps } = JSON.parse(stdout.trim().split('\n').pop()!) as {
      maxRssKiB: number;
      cpuS: number;
      userS?: number;
      sysS?: number;
      steps: Record<string, number>;
    };
    return { wallMs, peakRssMiB: maxRssKiB / 1024, cpuS, userS, sysS, steps };
  } finally {
    work.done(dir);
  }
}

/** `gpg --decrypt | [tee B.tar.gz |] tar -xz`, each side under `/usr/bin/time -f %M` for its peak RSS. */
async function measureGpgTar(
  archive: string,
  passFile: string,
  gnupgHome: string,
  keepTarGz: boolean,
  dirs: WorkDirs,
): Promise<Measurement> {
  const work = dirs.make('bench-gpg-');
  const out = join(work, 'x');
  mkdirSync(out);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const gpg = `/usr/bin/time -f 'rss %M cpu %U %S' -o ${q(join(work, 'gpg.rss'))} gpg --batch --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-file ${q(passFile)} --decrypt ${q(archive)}`;
  const tee = keepTarGz ? ` | tee ${q(join(work, 'B.tar.gz'))}` : '';
  const tar = `/usr/bin/time -f 'rss %M cpu %U %S' -o ${q(join(work, 'tar.rss'))} tar -xz -C ${q(out)}`;
  try {
    const { wallMs } = await run('/bin/sh', ['-c', `set -e; ${gpg}${tee} | ${tar}`], { ...process.env, GNUPGHOME: gnupgHome });
    const stats = (f: string): { rss: number; user: number; sys: number } => {
      const m = /rss (\d+) cpu ([\d.]+) ([\d.]+)/.exec(readFileSync(join(work, f), 'utf8'))!;
      return { rss: Number(m[1]), user: Number(m[2]), sys: Number(m[3]) };
    };
    const g = stats('gpg.rss');
    const t = stats('tar.rss');
    // tee is not counted; gzip's peak and CPU are inside tar's (time reports tar's waited-for children too).
    const userS = g.user + t.user;
    const sysS = g.sys + t.sys;
    return { wallMs, peakRssMiB: (g.rss + t.rss) / 1024, cpuS: userS + sysS, userS, sysS };
  } finally {
    dirs.done(work);
  }
}

interface Args {
  rounds: number;
  mb: number;
  only: string[] | null;
  archive: string | null;
  base: string | null;
  cleanupEach: boolean;
}

function parseArgs(argv: string[]): Args {
  const str = (name: string): string | null => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : null;
  };
  const num = (name: string, fallback: number): number => Number(str(name) ?? fallback);
  return {
    rounds: num('--rounds', 3),
    mb: num('--mb', 300),
    only: str('--only')?.split(',') ?? null,
    archive: str('--archive'),
    base: str('--base'),
    cleanupEach: argv.includes('--cleanup-each'),
  };
}

/** The variants, in the order each round runs them. */
const VARIANTS = {
  base: { label: '(a) as built in --base DIST (before the change)', spec: { path: 'fused', copies: 1, keep: 'all', thread: 'worker' } },
  ours: {
    label:
      '(a) ours, one pass: decrypt (worker thread) + extract (all files), verify, derivatives (with the GC setting of `grin-pipeline unpack`)',
    spec: { path: 'fused', copies: 1, keep: 'all', thread: 'worker' },
  },
  oursDefaultGc: {
    label: "(a') as (a), with V8's default GC settings (incremental marking on; what (a) ran with before issue 10's CPU work)",
    spec: { path: 'fused', copies: 1, keep: 'all', thread: 'worker', gc: 'default' },
  },
  oursMain: {
    label: '(a1) same, decrypting in the main thread (before this change)',
    spec: { path: 'fused', copies: 1, keep: 'all', thread: 'main' },
  },
  oursLean: {
    label: '(a2) as (a), storing only text/XML/checksum.md5 (every entry still checked and hashed)',
    spec: { path: 'fused', copies: 1, keep: 'derivative-inputs', thread: 'worker' },
  },
  twoStep: {
    label: "(a3) the activities' two steps: decryptFile to .tar.gz (worker thread), then extractTarGz, verifyChecksums, makeDerivatives",
    spec: { path: 'two-step', copies: 1, keep: 'all', thread: 'worker' },
  },
  twoStepMain: {
    label: '(a3.1) same, decrypting in the main thread (before this change)',
    spec: { path: 'two-step', copies: 1, keep: 'all', thread: 'main' },
  },
  twoStepDigests: {
    label: '(a3.2) as (a3), verifyChecksums given the digests from extractTarGzWithDigests (not yet used by the activity)',
    spec: { path: 'two-step-digests', copies: 1, keep: 'all', thread: 'worker' },
  },
  gpgTar: { label: '(b) gpg --decrypt \\| tar -xz', spec: null },
  gpgTeeTar: { label: "(b') gpg --decrypt \\| tee B.tar.gz \\| tar -xz (also keeps the .tar.gz, like ours)", spec: null },
  fourOurs: {
    label: "(c) four of (a) at once, one process, with V8's default GC settings (as in the pipeline's worker process)",
    spec: { path: 'fused', copies: 4, keep: 'all', thread: 'worker', gc: 'default' },
  },
  fourBase: { label: '(c) as built in --base DIST', spec: { path: 'fused', copies: 4, keep: 'all', thread: 'worker' } },
  fourTwoStep: {
    label: '(c3) four of (a3) at once, one process (as a worker host running four books)',
    spec: { path: 'two-step', copies: 4, keep: 'all', thread: 'worker' },
  },
} satisfies Record<string, { label: string; spec: ChildSpec | null }>;
type Variant = keyof typeof VARIANTS;

async function main(): Promise<void> {
  if (process.argv[2] === '--child-ours') {
    await childOurs(process.argv[3], process.argv[4], JSON.parse(process.argv[5]) as ChildSpec);
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  const { rounds, only } = args;
  const baseScript = args.base === null ? null : join(args.base, 'bench', 'archive-bench.js');
  if (baseScript !== null && !existsSync(baseScript)) throw new Error(`--base: ${baseScript} is missing (give a build's dist/ folder)`);
  const names = (Object.keys(VARIANTS) as Variant[]).filter(
    (n) => (!only || only.includes(n)) && ((n !== 'base' && n !== 'fourBase') || baseScript !== null),
  );
  if (!names.includes('gpgTar')) throw new Error('--only must include gpgTar (the reference of the ratios)');
  const { archive, passFile } = args.archive === null ? await ensureArchive(args.mb) : { archive: args.archive, passFile: writePassFile() };
  const size = statSync(archive).size;
  const gnupgHome = mkdtempSync(join(tmpdir(), 'bench-gnupg-'));
  const trash = mkdtempSync(join(tmpdir(), 'bench-work-'));
  const work: WorkDirs = {
    make: (prefix) => mkdtempSync(join(trash, prefix)),
    done: (dir) => {
      if (args.cleanupEach) rmSync(dir, { recursive: true, force: true });
    },
  };
  const samples = Object.fromEntries(names.map((n) => [n, [] as Measurement[]])) as Record<Variant, Measurement[]>;
  const loads: number[] = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      loads.push(loadavg()[0]);
      process.stdout.write(`round ${r}/${rounds} (load ${loads[loads.length - 1].toFixed(1)}):`);
      for (const name of names) {
        process.stdout.write(` ${name}`);
        const spec = VARIANTS[name].spec;
        samples[name].push(
          spec
            ? await measureOurs(archive, spec, work, name === 'base' || name === 'fourBase' ? baseScript! : __filename)
            : await measureGpgTar(archive, passFile, gnupgHome, name === 'gpgTeeTar', work),
        );
      }
      process.stdout.write('\n');
    }
  } finally {
    try {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: gnupgHome }, stdio: 'ignore' });
    } catch {
      // no agent running
    }
    rmSync(gnupgHome, { recursive: true, force: true });
    rmSync(trash, { recursive: true, force: true });
  }

  const stat = (pick: (v: number[]) => number) =>
    Object.fromEntries(
      names.map((k) => {
        const v = samples[k];
        const parts = (f: (m: Measurement) => number | undefined): number => {
          const xs = v.map(f).filter((x): x is number => x !== undefined);
          return xs.length > 0 ? pick(xs) : NaN;
        };
        return [
          k,
          {
            wallMs: pick(v.map((m) => m.wallMs)),
            peakRssMiB: pick(v.map((m) => m.peakRssMiB)),
            cpuS: pick(v.map((m) => m.cpuS)),
            userS: parts((m) => m.userS),
            sysS: parts((m) => m.sysS),
          },
        ];
      }),
    ) as Record<Variant, Measurement>;
  const summary = stat(median);
  const least = stat((v) => Math.min(...v));
  const ratio = (m: Measurement, base: Measurement): string =>
    `${(m.wallMs / base.wallMs).toFixed(2)} (CPU ${(m.cpuS / base.cpuS).toFixed(2)})`;
  const row = (name: Variant): string => {
    const m = summary[name];
    const lo = least[name];
    const note =
      name === 'gpgTar'
        ? '1'
        : name.startsWith('four')
          ? 'target: peak RSS < 300 MiB'
          : `${ratio(m, summary.gpgTar)}; min: ${ratio(lo, least.gpgTar)}`;
    const split = Number.isNaN(m.userS!) ? '' : ` (${m.userS!.toFixed(2)} + ${m.sysS!.toFixed(2)})`;
    return (
      `| ${VARIANTS[name].label} | ${(m.wallMs / 1000).toFixed(2)} s (min ${(lo.wallMs / 1000).toFixed(2)}) | ` +
      `${m.cpuS.toFixed(2)} s${split} (min ${lo.cpuS.toFixed(2)}) | ${m.peakRssMiB.toFixed(0)} MiB (max ${Math.max(...samples[name].map((x) => x.peakRssMiB)).toFixed(0)}) | ${note} |`
    );
  };
  console.log(
    `\nArchive: ${archive} (${(size / 1e6).toFixed(0)} MB), median (and min) of ${rounds} round(s), node ${process.version}, ` +
      `1-min load average at round start: ${loads.map((l) => l.toFixed(1)).join(', ')}; ` +
      `outputs removed ${args.cleanupEach ? 'after each run' : 'at the end'}\n`,
  );
  console.log('| path | wall time | CPU: user + sys | peak RSS | ratio to (b): wall (CPU), medians; min: of the minima |');
  console.log('|---|---|---|---|---|');
  for (const name of names) console.log(row(name));
  console.log('\nsteps of our variants (ms, median):');
  for (const name of names) {
    const withSteps = samples[name].filter((m) => m.steps);
    if (withSteps.length === 0) continue;
    const keys = Object.keys(withSteps[0].steps!);
    console.log(`  ${name}: ${keys.map((k) => `${k} ${median(withSteps.map((m) => m.steps![k])).toFixed(0)}`).join(', ')}`);
  }
  console.log(`\nraw samples: ${JSON.stringify(samples)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

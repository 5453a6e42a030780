/**
 * Where the CPU of the one-pass path goes (issue 10), two ways, on one archive:
 *
 *  1. each part alone, in its own process, by CPU seconds (user + system of all threads, which a
 *     busy machine does not inflate the way it does wall time): decrypt only (main thread, then
 *     worker thread: the difference is the hand-off), inflate only, + tar parsing, + MD5, and the
 *     whole `unpackArchive`; what the whole costs beyond the parts is writing, verify, derivatives;
 *  2. one `unpackArchive` under `node --cpu-prof` (the main thread and the decryption thread each
 *     write a .cpuprofile): CPU per thread from /proc/self/task/<tid>/stat, and each JavaScript
 *     thread's samples summed by component (openpgp.js, tar-stream, hashing, zlib and fs glue,
 *     streams, thread hand-off, GC, …). Samples are wall-clock: on a loaded machine a thread that
 *     waits for a core inside a native call is counted there, so read them as shares, not seconds.
 *     node:zlib inflates and node:fs writes on libuv's pool threads, which the profiles do not cover.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/cpu-profile.js ARCHIVE [--rounds N] [--keep-profiles DIR]
 *
 * The passphrase is the archive bench's (bench/archive-bench.ts).
 */
import { spawn } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { extract as tarExtract } from 'tar-stream';
import { decryptFile, openDecryptedStream } from '../src/archive/decrypt';
import { tuneGcForStreamingProcess } from '../src/archive/gc-tuning';
import { unpackArchive } from '../src/archive/unpack';

const PASSPHRASE = 'bench passphrase: correct horse battery staple';
const TICKS_PER_S = 100; // USER_HZ on Linux

interface ThreadCpu {
  tid: number;
  name: string;
  cpuS: number;
}

/** CPU seconds of every thread of this process, from /proc. */
function threadCpu(): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state): utime is field 14, stime field 15.
      out.push({ tid: Number(tid), name, cpuS: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

type Component = 'full' | 'decrypt-worker' | 'decrypt-main' | 'inflate' | 'inflate-untar' | 'inflate-untar-md5';

/** Inflates `tarGz` and, per `what`, parses the tar and hashes the entries; nothing is written. */
async function readOnly(tarGz: string, what: Component): Promise<void> {
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const source = createReadStream(tarGz, { highWaterMark: 1024 * 1024 });
  if (what === 'inflate') {
    await pipeline(source, gunzip, new Writable({ write: (_c, _e, cb) => cb() }));
    return;
  }
  const untar = tarExtract();
  const feeding = pipeline(source, gunzip, untar as unknown as NodeJS.WritableStream);
  for await (const entry of untar as unknown as AsyncIterable<AsyncIterable<Uint8Array>>) {
    const hash = what === 'inflate-untar-md5' ? createHash('md5') : null;
    for await (const chunk of entry) hash?.update(chunk);
    hash?.digest('hex');
  }
  await feeding;
}

async function child(archive: string, outDir: string, what: Component, tarGz: string): Promise<void> {
  // Every part with the GC setting `grin-pipeline unpack` uses (GRIN_BENCH_DEFAULT_GC=1: V8's own).
  if (process.env.GRIN_BENCH_DEFAULT_GC !== '1') tuneGcForStreamingProcess();
  const start = threadCpu();
  const total0 = process.cpuUsage();
  const t0 = Date.now();
  if (what === 'full') {
    await unpackArchive({ archive, passphrase: PASSPHRASE, outDir: join(outDir, 'run'), barcode: 'B' });
  } else if (what === 'decrypt-worker' || what === 'decrypt-main') {
    const d = await openDecryptedStream(archive, PASSPHRASE, { thread: what === 'decrypt-main' ? 'main' : 'worker' });
    await pipeline(d.stream, new Writable({ write: (_c, _e, cb) => cb() }));
  } else {
    await readOnly(tarGz, what);
  }
  const wallS = (Date.now() - t0) / 1000;
  const total = process.cpuUsage(total0);
  const end = threadCpu();
  const threads = end.map((t) => ({ ...t, cpuS: t.cpuS - (start.find((s) => s.tid === t.tid)?.cpuS ?? 0) }));
  console.log(
    JSON.stringify({ wallS, cpuS: (total.user + total.system) / 1e6, threads, maxRssMiB: process.resourceUsage().maxRSS / 1024 }),
  );
}

// ---- profile summing ----------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const COMPONENTS: Array<[string, (url: string, fn: string) => boolean]> = [
  ['idle', (_u, f) => f === '(idle)'],
  ['garbage collection', (_u, f) => f === '(garbage collector)'],
  ['openpgp.js (cipher, MDC, its stream copies)', (u) => u.includes('node_modules/openpgp')],
  ['tar-stream (+ streamx, b4a)', (u) => /node_modules\/(tar-stream|streamx|b4a|fast-fifo|text-decoder)/.test(u)],
  [
    'native fs calls (open, read, write, close: scheduling the pool work)',
    (u, f) => u === '' && /^(open|close|read|writeBuffers?|writeString|unlink|fstat|lstat|mkdir|rename)$/.test(f),
  ],
  ['node:crypto hash (MD5 / SHA-1 MDC)', (u) => u.includes('internal/crypto/hash')],
  ['node:crypto cipher', (u) => u.includes('internal/crypto/cipher')],
  ['zlib glue (inflate itself runs in the pool)', (u) => u === 'node:zlib' || u.includes('internal/zlib')],
  ['fs write glue (writes run in the pool)', (u) => u === 'node:fs' || u.includes('internal/fs/')],
  [
    'thread hand-off (postMessage, batching)',
    (u, f) =>
      u.includes('decrypt-thread') ||
      u.includes('decrypt-worker') ||
      u.includes('internal/worker') ||
      u.includes('per_context/messageport') ||
      f === 'postMessage',
  ],
  ['web streams', (u) => u.includes('internal/webstreams')],
  ['node streams', (u) => u.includes('internal/streams') || u === 'node:stream'],
  ['our extraction (extract.ts etc.)', (u) => u.includes('/src/archive/')],
  ['(program): native, not attributed', (_u, f) => f === '(program)'],
  ['other', () => true],
];

function component(url: string, fn: string): string {
  return COMPONENTS.find(([, test]) => test(url, fn))![0];
}

/** Self time (s) per component of one .cpuprofile. */
function sumProfile(file: string): Map<string, number> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const sums = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])!;
    const key = component(node.callFrame.url, node.callFrame.functionName);
    sums.set(key, (sums.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1e6);
  }
  return sums;
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}`))));
  });
}

interface ChildResult {
  wallS: number;
  cpuS: number;
  maxRssMiB: number;
  threads: ThreadCpu[];
}

async function runChild(args: string[], component: Component, archive: string, work: string, tarGz: string): Promise<ChildResult> {
  const outDir = join(work, `out-${component}`);
  const out = await run([...args, __filename, '--child', archive, outDir, component, tarGz]).finally(() =>
    rmSync(outDir, { recursive: true, force: true }),
  );
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    await child(argv[1], argv[2], argv[3] as Component, argv[4]);
    return;
  }
  const archive = argv[0];
  if (!archive) throw new Error('usage: cpu-profile.js ARCHIVE [--rounds N] [--keep-profiles DIR]');
  const roundsAt = argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : 1;
  const keep = argv.indexOf('--keep-profiles');
  const work = mkdtempSync(join(tmpdir(), 'cpu-profile-'));
  const profDir = keep >= 0 ? argv[keep + 1] : join(work, 'prof');
  mkdirSync(profDir, { recursive: true });
  console.log(`archive ${archive}; ${rounds} round(s); 1-min load at start ${loadavg()[0].toFixed(1)}`);
  try {
    const tarGz = join(work, 'B.tar.gz');
    await decryptFile(archive, tarGz, PASSPHRASE);

    // 1. Components alone, CPU seconds of the whole process (no profiler), median of the rounds.
    const parts: Component[] = ['decrypt-main', 'decrypt-worker', 'inflate', 'inflate-untar', 'inflate-untar-md5', 'full'];
    const cpu = new Map<Component, number[]>(parts.map((p) => [p, []]));
    for (let r = 0; r < rounds; r++) {
      for (const p of parts) cpu.get(p)!.push((await runChild([], p, archive, work, tarGz)).cpuS);
    }
    const m = (p: Component): number => median(cpu.get(p)!);
    console.log(`\nCPU seconds, each part alone in its own process (median; samples ${JSON.stringify(Object.fromEntries(cpu))}):\n`);
    console.log('| component | CPU s | how |\n|---|---|---|');
    const rows: Array<[string, number, string]> = [
      [
        'decrypt (openpgp.js: AES-CFB, SHA-1 MDC, web streams, copies; S2K)',
        m('decrypt-main'),
        'decrypt in the main thread, plaintext discarded',
      ],
      ['hand-off to/from the decryption thread', m('decrypt-worker') - m('decrypt-main'), 'decrypt in the worker thread minus the above'],
      ['inflate (node:zlib)', m('inflate'), 'gunzip of the decrypted .tar.gz, discarded'],
      ['tar parsing (tar-stream)', m('inflate-untar') - m('inflate'), '+ tar-stream, entries drained'],
      ['MD5 of every entry', m('inflate-untar-md5') - m('inflate-untar'), '+ MD5 per entry'],
      [
        'writes (the .tar.gz copy + ~1,200 files), verify, derivatives, rest',
        m('full') - m('decrypt-worker') - m('inflate-untar-md5'),
        'unpackArchive minus the parts above',
      ],
      ['total: unpackArchive', m('full'), 'measured'],
    ];
    for (const [k, v, how] of rows) console.log(`| ${k} | ${v.toFixed(2)} | ${how} |`);

    // 2. One profiled full run: CPU per thread, and each JavaScript thread's self time by component.
    const r = await runChild(['--cpu-prof', `--cpu-prof-dir=${profDir}`], 'full', archive, work, tarGz);
    const pid = Math.min(...r.threads.map((t) => t.tid));
    console.log(`\nprofiled run: wall ${r.wallS.toFixed(2)} s, CPU ${r.cpuS.toFixed(2)} s, peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
    console.log(
      'threads with CPU (tid - pid, name, CPU s):',
      r.threads
        .filter((t) => t.cpuS > 0)
        .map((t) => `${t.tid - pid} ${t.name} ${t.cpuS.toFixed(2)}`)
        .join('; '),
    );
    const files = readdirSync(profDir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort();
    for (const f of files) {
      const sums = sumProfile(join(profDir, f));
      const busy = [...sums].filter(([k]) => k !== 'idle').reduce((n, [, v]) => n + v, 0);
      // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread id 0 is the main thread.
      const isMain = /\.\d+\.0\.\d+\.cpuprofile$/.test(f);
      console.log(`\n${isMain ? 'main thread' : 'decryption thread'} (${f}): profiled busy ${busy.toFixed(2)} s (wall-clock samples)\n`);
      console.log('| component | share of samples |\n|---|---|');
      for (const [k, v] of [...sums].filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1])) {
        console.log(`| ${k} | ${((100 * v) / busy).toFixed(0)} % |`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

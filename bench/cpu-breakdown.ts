/**
 * `bench:cost --breakdown` (issue 23): the bench runs again in a child under V8's CPU profiler
 * (`--cpu-prof`, one .cpuprofile per JavaScript thread: main, decryption, workflow threads) with
 * bench/thread-tag.js preloaded in each thread. The child records the batch window (monotonic
 * clock, the profiles' own) and every thread's CPU from /proc at its ends; afterwards the parent
 * attributes the window's samples to components (bench/cpu-components.ts) and prints them per
 * book and thread, beside /proc's CPU of the same threads and of those no profiler samples: libuv's
 * pool (file I/O, zlib's inflating, async crypto), V8's platform threads (GC helpers, compilers),
 * the SDK's Rust core and the profiler's own threads.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPONENTS, attribute, roleFallback, threadRole, type Component, type CpuProfile, type ThreadRole } from './cpu-components';
import type { ThreadTag } from './thread-tag';

/** One /proc reading: [tid, name, CPU seconds]. */
export type ThreadReading = [number, string, number][];

export interface BreakdownWindow {
  pid: number;
  books: number;
  /** The batch window, µs of the monotonic clock (process.hrtime), as the profiles' timestamps. */
  fromUs: number;
  toUs: number;
  threadsBefore: ThreadReading;
  threadsAfter: ThreadReading;
}

/** Node options for the profiled child: profiles and thread tags into `dir`. */
export function profiledExecArgv(dir: string): string[] {
  return ['--cpu-prof', '--cpu-prof-dir', dir, '--require', join(__dirname, 'thread-tag.js')];
}

export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function writeWindow(dir: string, window: BreakdownWindow): void {
  writeFileSync(join(dir, 'window.json'), JSON.stringify(window));
}

/** What a /proc thread is, from the tags and the profiles' roles. */
function threadGroup(tid: number, name: string, window: BreakdownWindow, tags: ThreadTag[], roles: Map<number, ThreadRole>): string {
  if (tid === window.pid) return 'main';
  const tag = tags.find((t) => t.tid === tid);
  if (tag) return roles.get(tag.threadId) ?? 'other';
  if (name === 'v8:ProfEvntProc') return "profiler's own threads (v8:ProfEvntProc; absent without --breakdown)";
  if (name !== 'node') return `${name} threads (SDK's Rust core)`;
  const startup = tags.find((t) => t.threadId === 0)?.startupThreads ?? [];
  return startup.includes(tid)
    ? 'V8 platform threads (GC helpers, compilers)'
    : 'libuv pool (file I/O, zlib inflating, async crypto; any other unnamed thread)';
}

const ROLE_ORDER: ThreadRole[] = ['main', 'decrypt', 'workflow', 'other'];

/** The breakdown's lines, from the profiles, tags and window the child left in `dir`. */
export function reportBreakdown(dir: string): string[] {
  const window = JSON.parse(readFileSync(join(dir, 'window.json'), 'utf8')) as BreakdownWindow;
  const files = readdirSync(dir);
  const tags = files
    .filter((f) => f.startsWith(`tag-${window.pid}-`))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ThreadTag);
  const perBook = (ms: number) => ms / window.books;

  // Profiles of the bench's process (the workflow bundler's child writes its own; left out).
  interface RoleSum {
    threads: number[];
    components: Map<Component, number>;
    busy: number;
    other: Map<string, number>;
  }
  const byRole = new Map<ThreadRole, RoleSum>();
  const roles = new Map<number, ThreadRole>();
  for (const file of files) {
    const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file);
    if (!m || Number(m[1]) !== window.pid) continue;
    const threadId = Number(m[2]);
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const role = threadRole(profile, threadId === 0);
    roles.set(threadId, role);
    const a = attribute(profile, { fallback: roleFallback(role), fromUs: window.fromUs, toUs: window.toUs });
    if (a.busyMs === 0) continue;
    const sum: RoleSum = byRole.get(role) ?? { threads: [], components: new Map(), busy: 0, other: new Map() };
    sum.threads.push(threadId);
    for (const [c, ms] of a.byComponent) sum.components.set(c, (sum.components.get(c) ?? 0) + ms);
    for (const [p, ms] of a.otherByPlace) sum.other.set(p, (sum.other.get(p) ?? 0) + ms);
    sum.busy += a.busyMs;
    byRole.set(role, sum);
  }

  // /proc: each thread's CPU in the window, by group.
  const before = new Map(window.threadsBefore.map(([tid, , cpu]) => [tid, cpu]));
  const procMs = new Map<string, { ms: number; threads: number }>();
  let processMs = 0;
  for (const [tid, name, cpu] of window.threadsAfter) {
    const ms = (cpu - (before.get(tid) ?? 0)) * 1000;
    processMs += ms;
    const group = threadGroup(tid, name, window, tags, roles);
    const g = procMs.get(group) ?? { ms: 0, threads: 0 };
    procMs.set(group, { ms: g.ms + ms, threads: g.threads + 1 });
  }

  const columns = ROLE_ORDER.filter((r) => byRole.has(r));
  const procOf = (r: ThreadRole) => procMs.get(r)?.ms ?? 0;
  // Samples are wall-clock: on a busy machine a thread waiting for a core is sampled where it
  // waits. Each thread's split is kept and scaled to its CPU from /proc (unscaled if its thread
  // ended before the window did and /proc has no figure).
  const scale = new Map(columns.map((r) => [r, procOf(r) > 0 ? procOf(r) / byRole.get(r)!.busy : 1]));
  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  const row = (label: string, values: number[], digits = 0) =>
    `| ${label} | ${values.map((v) => perBook(v).toFixed(digits)).join(' | ')} | ${perBook(sum(values)).toFixed(digits)} |`;
  const lines = [
    `worker CPU by component, batch window, ms per book: each JavaScript thread's profile samples split by component (rule: bench/cpu-components.ts), scaled to that thread's CPU from /proc`,
    `| component | ${columns.map((r) => (r === 'workflow' ? `workflow threads (${byRole.get(r)!.threads.length})` : `${r} thread`)).join(' | ')} | total |`,
    `| --- | ${columns.map(() => '---:').join(' | ')} | ---: |`,
  ];
  for (const c of COMPONENTS) {
    const values = columns.map((r) => (byRole.get(r)!.components.get(c) ?? 0) * scale.get(r)!);
    if (sum(values) > 0) lines.push(row(c, values));
  }
  const procJs = columns.map(procOf);
  const busy = columns.map((r) => byRole.get(r)!.busy);
  lines.push(row('= CPU (/proc)', procJs));
  lines.push(row('samples (wall ms, unscaled)', busy));
  const unsampled = [...procMs].filter(([g]) => !ROLE_ORDER.includes(g as ThreadRole)).sort((a, b) => b[1].ms - a[1].ms);
  for (const [g, { ms, threads }] of unsampled)
    if (perBook(ms) >= 0.5)
      lines.push(`| not sampled: ${g}, ${threads} thread(s) | ${columns.map(() => '').join(' | ')} | ${perBook(ms).toFixed(0)} |`);
  lines.push(`| worker process (/proc, all threads) | ${columns.map(() => '').join(' | ')} | ${perBook(processMs).toFixed(0)} |`);
  const pct = (ms: number) => `${((100 * ms) / (processMs || 1)).toFixed(0)} %`;
  lines.push(
    `the profiled JavaScript threads are ${pct(sum(procJs))} of the worker process's CPU, the threads no profile samples ${pct(processMs - sum(procJs))}; ` +
      `their samples were ${(sum(busy) / (sum(procJs) || 1)).toFixed(2)}× their CPU (wall-clock samples: waits for a core, blocking calls)`,
  );
  for (const r of columns) {
    const top = [...byRole.get(r)!.other].sort((a, b) => b[1] - a[1]).slice(0, 6);
    if (top.length)
      lines.push(
        `"other" on the ${r} thread(s), by the leaf's code (scaled ms per book): ${top.map(([p, ms]) => `${p} ${perBook(ms * scale.get(r)!).toFixed(0)}`).join(', ')}`,
      );
  }
  return lines;
}

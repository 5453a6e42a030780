/**
 * The top self-time functions of V8 CPU profiles (`node --cpu-prof --cpu-prof-dir DIR ...` writes one
 * .cpuprofile per thread), one table per profile, plus each profile's time by where the code lives
 * (our src/, @temporalio, other packages, Node's internals, native/GC). Samples are wall-clock on a
 * thread that is running JavaScript or waiting inside a native call, so on a loaded machine read the
 * shares, not the milliseconds.
 *
 *   node dist/bench/profile-top.js DIR [--top 25]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code lives, for the per-profile breakdown. */
export function placeOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.includes('/node_modules/@temporalio/')) return '@temporalio/' + url.split('/node_modules/@temporalio/')[1].split('/')[0];
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:') || !url.includes('/')) return 'node internals';
  if (/\/(src|dist\/src)\//.test(url)) return 'ours: ' + url.replace(/^.*\/(?:dist\/)?src\//, 'src/').replace(/\.js$/, '');
  if (url.includes('workflow-bundle') || url.includes('webpack')) return 'workflow bundle';
  return url;
}

/** Self milliseconds per function (name + place + line) and per place, from one profile. */
export function selfTimes(profile: Profile): { total: number; byFunction: Map<string, number>; byPlace: Map<string, number> } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frame = nodes.get(id)?.callFrame;
    if (!frame || ms <= 0) return;
    if (frame.functionName === '(idle)') return; // a thread waiting for work is not spending anything
    total += ms;
    const place = placeOf(frame.url, frame.functionName);
    const key = `${frame.functionName || '(anonymous)'}  [${place}${frame.url ? `:${frame.lineNumber + 1}` : ''}]`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    const group = place.startsWith('ours: ') ? 'ours (src/)' : place;
    byPlace.set(group, (byPlace.get(group) ?? 0) + ms);
  });
  return { total, byFunction, byPlace };
}

function main(): void {
  const program = new Command('profile-top')
    .description('Top self-time functions of each .cpuprofile in a folder, and time by where the code lives.')
    .argument('<dir>', 'folder of .cpuprofile files (node --cpu-prof-dir)')
    .option('--top <n>', 'functions to list per profile', Number, 25)
    .parse(process.argv);
  const dir = program.args[0];
  const { top } = program.opts<{ top: number }>();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  if (files.length === 0) throw new Error(`${dir}: no .cpuprofile files (run with node --cpu-prof --cpu-prof-dir ${dir})`);
  for (const file of files) {
    const { total, byFunction, byPlace } = selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile);
    console.log(`\n${file}: ${(total / 1000).toFixed(2)} s of samples (idle left out)`);
    const share = (ms: number) => `${((100 * ms) / (total || 1)).toFixed(1).padStart(5)} %`;
    console.log('  by where the code lives:');
    for (const [place, ms] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`    ${share(ms)}  ${place}`);
    console.log(`  top ${top} functions by self time:`);
    for (const [fn, ms] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${share(ms)}  ${fn}`);
  }
}

if (require.main === module) main();

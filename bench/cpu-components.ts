/**
 * Attributes the samples of a V8 CPU profile (`node --cpu-prof`, one .cpuprofile per JavaScript
 * thread) to the book path's components (issue 23). Pure: no files, no clock.
 *
 * The rule: each frame of a sample's stack may name a component (by the code's URL, or V8's pseudo
 * frames); the sample goes to the component of highest PRIORITY anywhere on its stack. Leaf work
 * (hashing, inflate, decrypt, tar) outranks the code that called it (board, upload, download), and
 * those outrank generic file I/O and the SDK, so an MD5 taken by the upload counts as hashing, a
 * `rename` issued by the board as board, a write issued by the unpacking as writes, and an activity's
 * code under the SDK's frames as what the activity does. A stack with none goes to the thread's
 * fallback (the decryption thread's own code is decryption; a workflow thread's is the SDK) or
 * `other`. `bench` is the bench's own code, which runs in the worker's process. Samples are wall-clock: a thread waiting for a core inside its code counts there.
 */

export const COMPONENTS = [
  'download',
  'decrypt',
  'inflate',
  'tar',
  'hashing',
  'writes',
  'upload',
  'board',
  'SDK',
  'GC',
  'program',
  'bench',
  'other',
] as const;
export type Component = (typeof COMPONENTS)[number];

/** Highest first: the order in which a stack's components win. */
const PRIORITY: Component[] = [
  'GC',
  'program',
  'bench',
  'hashing',
  'inflate',
  'decrypt',
  'tar',
  'board',
  'upload',
  'download',
  'writes',
  'SDK',
];

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber?: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
/** The parts of a .cpuprofile this module reads (times in µs of the monotonic clock). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** URL tests, in PRIORITY's order of the components they name. */
const BY_URL: [Component, RegExp][] = [
  // The bench's own work in the worker's process (its sampling of the processing folder).
  ['bench', /\/bench\/[^/]+\.[jt]s$/],
  // node:crypto's Hash (createHash, update, digest): MD5/SHA-256 of files, SHA-1 of the MDC.
  ['hashing', /^node:internal\/crypto\/hash|^node:crypto$/],
  // node:zlib's JavaScript side (the inflating itself runs on libuv's pool, not sampled).
  ['inflate', /^node:zlib$|^node:internal\/zlib|\/node_modules\/(pako|fflate)\//],
  // openpgp.js, node:crypto's ciphers, and our decryption code (the thread and its hand-off).
  ['decrypt', /\/node_modules\/(openpgp|@openpgp)\/|^node:internal\/crypto\/cipher|\/archive\/(decrypt|s2k)[^/]*\.[jt]s$/],
  // tar-stream and the stream library it is built on (no other user of streamx on the book path).
  ['tar', /\/node_modules\/(tar-stream|streamx|fast-fifo|b4a)\//],
  ['board', /\/src\/buckets\/|\/src\/activities\/board-ops\.[jt]s$/],
  ['upload', /\/node_modules\/(@aws-sdk|@smithy)\/|\/src\/storage\/|\/src\/activities\/upload\.[jt]s$/],
  // GRIN's HTTP client; plain node:http frames too (with S3 storage the SDK's frames above win).
  [
    'download',
    /\/node_modules\/undici\/|^node:internal\/deps\/undici|\/src\/grin\/|\/src\/activities\/download\.[jt]s$|^node:_http_|^node:https?$/,
  ],
  ['writes', /^node:fs$|^node:internal\/fs\//],
  ['SDK', /\/node_modules\/@temporalio\//],
];

/** The component one frame names, if any. */
export function frameComponent(frame: CallFrame): Component | undefined {
  if (frame.functionName === '(garbage collector)') return 'GC';
  if (frame.functionName === '(program)') return 'program';
  for (const [component, test] of BY_URL) if (test.test(frame.url)) return component;
  return undefined;
}

function outranks(a: Component, b: Component | undefined): boolean {
  return b === undefined || PRIORITY.indexOf(a) < PRIORITY.indexOf(b);
}

/** What a thread's profile shows it to be, from the code it ran. */
export type ThreadRole = 'main' | 'decrypt' | 'workflow' | 'other';

export function threadRole(profile: CpuProfile, isMain: boolean): ThreadRole {
  if (isMain) return 'main';
  if (profile.nodes.some((n) => /decrypt-worker\.[jt]s$/.test(n.callFrame.url))) return 'decrypt';
  if (profile.nodes.some((n) => /@temporalio\/worker\/lib\/workflow\//.test(n.callFrame.url))) return 'workflow';
  return 'other';
}

/** A thread's fallback for stacks that name no component. */
export function roleFallback(role: ThreadRole): Component {
  return role === 'decrypt' ? 'decrypt' : role === 'workflow' ? 'SDK' : 'other';
}

export interface Attribution {
  /** Milliseconds of samples per component (idle left out). */
  byComponent: Map<Component, number>;
  /** Of `other`: milliseconds by where the leaf frame's code lives, for a closer look. */
  otherByPlace: Map<string, number>;
  /** All non-idle milliseconds counted. */
  busyMs: number;
  /** Idle milliseconds (the thread's event loop waiting). */
  idleMs: number;
}

/** Where a leaf frame's code lives: a package, a file of ours, or Node's internals. */
export function placeOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return url;
  const ours = /\/((?:src|bench|devkit)\/.*?)(?:\.[jt]s)?$/.exec(url);
  return ours ? ours[1] : url;
}

/**
 * Sums a profile's samples by component. A sample at time t (startTime plus the deltas so far)
 * weighs its own delta; with `fromUs`/`toUs` only samples in [fromUs, toUs] count.
 */
export function attribute(profile: CpuProfile, opts: { fallback?: Component; fromUs?: number; toUs?: number } = {}): Attribution {
  const fallback = opts.fallback ?? 'other';
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // The winning component of each node's whole stack (root to it), computed once per node.
  const memo = new Map<number, Component | undefined>();
  const stackComponent = (id: number): Component | undefined => {
    if (memo.has(id)) return memo.get(id);
    const chain: number[] = [];
    let at: number | undefined = id;
    while (at !== undefined && !memo.has(at)) {
      chain.push(at);
      at = parent.get(at);
    }
    let best = at === undefined ? undefined : memo.get(at);
    for (const nodeId of chain.reverse()) {
      const own = frameComponent(byId.get(nodeId)!.callFrame);
      if (own && outranks(own, best)) best = own;
      memo.set(nodeId, best);
    }
    return best;
  };

  const byComponent = new Map<Component, number>(COMPONENTS.map((c) => [c, 0]));
  const otherByPlace = new Map<string, number>();
  let busyMs = 0;
  let idleMs = 0;
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if ((opts.fromUs !== undefined && t < opts.fromUs) || (opts.toUs !== undefined && t > opts.toUs)) return;
    const node = byId.get(id);
    if (!node) return;
    const ms = delta / 1000;
    if (node.callFrame.functionName === '(idle)') {
      idleMs += ms;
      return;
    }
    busyMs += ms;
    const component = stackComponent(id) ?? fallback;
    byComponent.set(component, byComponent.get(component)! + ms);
    if (component === 'other') {
      const place = placeOf(node.callFrame);
      otherByPlace.set(place, (otherByPlace.get(place) ?? 0) + ms);
    }
  });
  return { byComponent, otherByPlace, busyMs, idleMs };
}

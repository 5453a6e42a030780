import { attribute, frameComponent, placeOf, roleFallback, threadRole, type CpuProfile } from '../../bench/cpu-components';

const SRC = 'file:///opt/grin/dist/src';
const MODS = 'file:///opt/grin/node_modules';

/**
 * A hand-made profile: (root) with an SDK activity that calls the upload, which hashes and reads a
 * file; the board renaming a file; the unpacking writing a file; tar-stream under streamx; zlib;
 * GC, idle and a bare Node stream frame.
 */
function profile(): CpuProfile {
  const frame = (functionName: string, url: string) => ({ functionName, url });
  const nodes = [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 20, 30, 40, 50, 60, 61, 62, 70] },
    { id: 2, callFrame: frame('runActivity', `${MODS}/@temporalio/worker/lib/activity.js`), children: [3] },
    { id: 3, callFrame: frame('uploadBook', `${SRC}/activities/upload.js`), children: [4, 6, 7] },
    { id: 4, callFrame: frame('putPart', `${MODS}/@smithy/node-http-handler/dist-cjs/index.js`), children: [5] },
    // node:http under the S3 SDK: upload outranks download.
    { id: 5, callFrame: frame('write', 'node:_http_outgoing') },
    { id: 6, callFrame: frame('update', 'node:internal/crypto/hash') },
    { id: 7, callFrame: frame('read', 'node:internal/fs/promises') },
    { id: 20, callFrame: frame('moveToken', `${SRC}/buckets/board.js`), children: [21] },
    { id: 21, callFrame: frame('rename', 'node:internal/fs/promises') },
    { id: 30, callFrame: frame('writeEntry', `${SRC}/archive/unpack.js`), children: [31] },
    { id: 31, callFrame: frame('writeBuffer', 'node:fs') },
    { id: 40, callFrame: frame('_write', `${MODS}/tar-stream/extract.js`), children: [41] },
    { id: 41, callFrame: frame('push', `${MODS}/streamx/index.js`) },
    { id: 50, callFrame: frame('processCallback', 'node:zlib') },
    { id: 60, callFrame: frame('(garbage collector)', '') },
    { id: 61, callFrame: frame('(idle)', '') },
    { id: 62, callFrame: frame('emit', 'node:events') },
    { id: 70, callFrame: frame('sample', 'file:///opt/grin/dist/bench/bench-setup.js'), children: [71] },
    { id: 71, callFrame: frame('stat', 'node:internal/fs/promises') },
  ];
  // One sample per listed leaf, each delta 1 ms except where set, at times 1..n ms after start.
  const samples = [5, 6, 7, 21, 31, 41, 50, 60, 61, 62, 71, 3];
  const timeDeltas = samples.map(() => 1000);
  timeDeltas[1] = 3000; // the hash sample weighs 3 ms
  return { nodes, startTime: 0, endTime: 20_000, samples, timeDeltas };
}

describe('CPU profile components (bench:cost --breakdown)', () => {
  test('each frame names its component by where its code lives', () => {
    expect(frameComponent({ functionName: 'update', url: 'node:internal/crypto/hash' })).toBe('hashing');
    expect(frameComponent({ functionName: 'decrypt', url: `${MODS}/openpgp/dist/node/openpgp.min.js` })).toBe('decrypt');
    expect(frameComponent({ functionName: 'onMessage', url: `${SRC}/archive/decrypt-thread.js` })).toBe('decrypt');
    expect(frameComponent({ functionName: 'fetch', url: 'node:internal/deps/undici/undici' })).toBe('download');
    expect(frameComponent({ functionName: 'get', url: `${SRC}/grin/http.js` })).toBe('download');
    expect(frameComponent({ functionName: 'send', url: `${MODS}/@aws-sdk/client-s3/dist-cjs/index.js` })).toBe('upload');
    expect(frameComponent({ functionName: '(garbage collector)', url: '' })).toBe('GC');
    expect(frameComponent({ functionName: 'emit', url: 'node:events' })).toBeUndefined();
    expect(frameComponent({ functionName: 'unpack', url: `${SRC}/archive/unpack.js` })).toBeUndefined();
  });

  test('a sample goes to the highest-ranked component on its stack, idle is left out', () => {
    const a = attribute(profile());
    const ms = Object.fromEntries(a.byComponent);
    // Under the SDK and the upload: the HTTP write and the file read are upload, the MD5 is hashing.
    expect(ms.upload).toBe(3); // ids 5, 7 and 3 (the activity's own frame)
    expect(ms.hashing).toBe(3);
    expect(ms.board).toBe(1); // a rename issued by the board
    expect(ms.writes).toBe(1); // a write issued by the unpacking
    expect(ms.tar).toBe(1); // streamx under tar-stream
    expect(ms.inflate).toBe(1);
    expect(ms.GC).toBe(1);
    expect(ms.bench).toBe(1); // the bench's own folder sampling, not writes
    expect(ms.SDK).toBe(0);
    expect(ms.other).toBe(1); // node:events alone
    expect(a.otherByPlace.get('node:events')).toBe(1);
    expect(a.idleMs).toBe(1);
    expect(a.busyMs).toBe(13);
  });

  test('a thread fallback takes the stacks no component names, and a window cuts by time', () => {
    const a = attribute(profile(), { fallback: 'decrypt' });
    expect(a.byComponent.get('decrypt')).toBe(1);
    expect(a.byComponent.get('other')).toBe(0);
    // Times: 1, 4 (the 3 ms hash), 5, 6, ... ms; keep 4–6 ms: the hash, the file read and the rename.
    const w = attribute(profile(), { fromUs: 4000, toUs: 6000 });
    expect(w.busyMs).toBe(5);
    expect(w.byComponent.get('hashing')).toBe(3);
    expect(w.byComponent.get('upload')).toBe(1);
    expect(w.byComponent.get('board')).toBe(1);
  });

  test('threads are told apart by the code they ran', () => {
    const p = profile();
    expect(threadRole(p, true)).toBe('main');
    expect(threadRole(p, false)).toBe('other');
    p.nodes.push({ id: 99, callFrame: { functionName: '', url: `${SRC}/archive/decrypt-worker.js` } });
    expect(threadRole(p, false)).toBe('decrypt');
    expect(roleFallback('decrypt')).toBe('decrypt');
    expect(roleFallback('workflow')).toBe('SDK');
    expect(roleFallback('main')).toBe('other');
    expect(placeOf({ functionName: 'x', url: `${MODS}/@smithy/core/index.js` })).toBe('@smithy/core');
    expect(placeOf({ functionName: 'x', url: `${SRC}/archive/unpack.js` })).toBe('src/archive/unpack');
  });
});

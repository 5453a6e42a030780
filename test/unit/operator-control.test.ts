/**
 * The operator's controls (issue 24, item 6) without servers: the control file's round trip and
 * its damaged forms, the GRIN gate's pause, concurrency and pacing, and download admission's pause
 * and cap (HostBooks).
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostBooks } from '../../src/activities/host-books';
import { GrinGate } from '../../src/control/grin-gate';
import {
  bookPauseLine,
  NO_CONTROL,
  OperatorControlError,
  operatorControlFile,
  pauseLines,
  readOperatorControl,
  throttleLine,
  updateOperatorControl,
} from '../../src/control/operator-control';
import { PAUSED_QUEUE_ROLE, unpausedQueueStalls, type QueueStall } from '../../src/liveness/stalls';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'opctl-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the control file', () => {
  test("missing means no pause and the config's figures", async () => {
    expect(await readOperatorControl(dir)).toEqual(NO_CONTROL);
  });

  test("written and read back; a second pause keeps the first one's time", async () => {
    await updateOperatorControl(dir, (c) => ({ ...c, pause: { grin: { since: '2026-12-07T05:00:00.000Z' } } }));
    const c = await updateOperatorControl(dir, (c) => {
      c.pause.grin ??= { since: '2026-12-07T06:00:00.000Z' };
      c.pause.downloads ??= { since: '2026-12-07T06:00:00.000Z' };
      c.throttle = { grinRatePerSecond: 0.5, downloadsPerHost: 2, since: '2026-12-07T06:00:00.000Z' };
      return c;
    });
    expect(await readOperatorControl(dir)).toEqual(c);
    expect(c.pause.grin!.since).toBe('2026-12-07T05:00:00.000Z');
    expect(pauseLines(c)).toEqual([
      'GRIN requests paused by operator since 2026-12-07T05:00:00.000Z (`grin-pipeline unpause` resumes them)',
      'downloads paused by operator since 2026-12-07T06:00:00.000Z (`grin-pipeline unpause` resumes them)',
    ]);
    expect(throttleLine(c)).toContain('GRIN calls at most 0.5/s per host, at most 2 download(s) in flight per host');
    expect(bookPauseLine(c, '01_requested')).toBe('GRIN requests paused by operator since 2026-12-07T05:00:00.000Z');
    expect(bookPauseLine(c, '02_converted')).toBe('downloads paused by operator since 2026-12-07T06:00:00.000Z');
    expect(bookPauseLine(c, '04_decrypted')).toBeUndefined();
  });

  test('a file that is not JSON is an error that says what to do; nonsense values are ignored', async () => {
    mkdirSync(join(dir, 'meta'));
    writeFileSync(operatorControlFile(dir), '{ half');
    await expect(readOperatorControl(dir)).rejects.toThrow(OperatorControlError);
    await expect(readOperatorControl(dir)).rejects.toThrow(/not JSON; remove it/);
    writeFileSync(
      operatorControlFile(dir),
      JSON.stringify({
        pause: { grin: { since: 'yesterday' }, downloads: true },
        throttle: { grinRatePerSecond: -1, downloadsPerHost: 1.5 },
      }),
    );
    expect(await readOperatorControl(dir)).toEqual({ pause: {}, throttle: {} });
  });
});

describe('GrinGate', () => {
  test('holds every new slot while paused and serves the waiters in order once unpaused', async () => {
    const gate = new GrinGate(2);
    gate.set({ paused: true });
    expect(gate.tryReserve()).toBe(false);
    const order: number[] = [];
    const a = gate.reserve().then(() => order.push(1));
    const b = gate.reserve().then(() => order.push(2));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    gate.set({ paused: false });
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2]);
    expect(gate.inUse).toBe(2);
    expect(gate.tryReserve()).toBe(false); // the concurrency limit
    gate.release();
    expect(gate.tryReserve()).toBe(true);
  });

  test('a rate spaces the grants; a waiter is served when the next start is due', async () => {
    let now = 1_000_000;
    const gate = new GrinGate(10, () => now);
    gate.set({ paused: false, ratePerSecond: 2 });
    expect(gate.tryReserve()).toBe(true);
    expect(gate.tryReserve()).toBe(false); // 500 ms must pass
    now += 499;
    expect(gate.tryReserve()).toBe(false);
    now += 1;
    expect(gate.tryReserve()).toBe(true);
    // Lifting the rate lets the next one go at once.
    gate.set({ paused: false });
    expect(gate.tryReserve()).toBe(true);
  });

  test("a waiter under a rate is woken by the gate's own timer", async () => {
    const gate = new GrinGate(10);
    gate.set({ paused: false, ratePerSecond: 20 });
    await gate.reserve();
    const t0 = Date.now();
    await gate.reserve();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
  });

  test('an aborted wait leaves the queue', async () => {
    const gate = new GrinGate(1);
    gate.set({ paused: true });
    const abort = new AbortController();
    const waiting = gate.reserve(abort.signal);
    abort.abort(new Error('shutdown'));
    await expect(waiting).rejects.toThrow('shutdown');
    gate.set({ paused: false });
    expect(gate.inUse).toBe(0);
  });
});

describe("download admission (HostBooks) under the operator's controls", () => {
  test('paused: no slot even on an empty host; unpaused: the waiter gets one', async () => {
    const books = new HostBooks(6);
    books.setOperatorControls({ paused: true });
    expect(books.hasRoom).toBe(false);
    expect(books.tryReserve()).toBe(false);
    let got = false;
    const waiting = books.reserve().then(() => (got = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toBe(false);
    books.setOperatorControls({ paused: false });
    await waiting;
    expect(books.reserved).toBe(1);
  });

  test('a cap on downloads in flight holds slots below the book limit; held books do not count', () => {
    const books = new HostBooks(6);
    books.admit('held1');
    books.setOperatorControls({ paused: false, maxDownloads: 1 });
    expect(books.tryReserve()).toBe(true);
    expect(books.tryReserve()).toBe(false);
    books.unreserve();
    expect(books.tryReserve()).toBe(true);
    books.setOperatorControls({ paused: false });
    expect(books.tryReserve()).toBe(true);
  });
});

test('a paused queue is not a stall; other queues still are', () => {
  const stall = (role: QueueStall['role']): QueueStall => ({ queue: role, role, kind: 'activity', backlog: 3, starvedMs: 600_000 });
  const stalls = [stall('grin'), stall('shared-file'), stall('host-file')];
  expect(unpausedQueueStalls(stalls, new Set([PAUSED_QUEUE_ROLE.downloads])).map((q) => q.role)).toEqual(['grin', 'host-file']);
  expect(unpausedQueueStalls(stalls, new Set([PAUSED_QUEUE_ROLE.grin, PAUSED_QUEUE_ROLE.downloads])).map((q) => q.role)).toEqual([
    'host-file',
  ]);
});

/**
 * The board across hosts (board-identity.ts): one id per board folder, written once even when
 * workers start at once, and which pollers count as a live worker keeping another board. The
 * refusal itself runs against a real Temporal server in test/integration/board-across-hosts.test.ts.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoardIdError, BoardMismatchError, ensureBoardId, otherBoardWorker } from '../../src/board-identity';
import { LIVE_POLL_SECONDS, workerIdentity, type SeenPoller } from '../../src/host-identity';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'board-id-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('a board gets one id, written once and read back at every start', async () => {
  const id = await ensureBoardId(dir);
  expect(id).toMatch(/^board-[0-9a-f]{16}$/);
  expect(readFileSync(join(dir, 'meta/board-id'), 'utf8').trim()).toBe(id);
  expect(await ensureBoardId(dir)).toBe(id);
  // No temp file left beside it.
  expect(readdirSync(join(dir, 'meta'))).toEqual(['board-id']);
});

test('workers starting at once on a new board all read the same id', async () => {
  const ids = await Promise.all(Array.from({ length: 12 }, () => ensureBoardId(dir)));
  expect(new Set(ids).size).toBe(1);
  expect(readdirSync(join(dir, 'meta'))).toEqual(['board-id']);
});

test('two board folders get two ids', async () => {
  const other = mkdtempSync(join(tmpdir(), 'board-id-other-'));
  try {
    expect(await ensureBoardId(other)).not.toBe(await ensureBoardId(dir));
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test('a damaged id is refused with the file named, not replaced', async () => {
  mkdirSync(join(dir, 'meta'));
  writeFileSync(join(dir, 'meta/board-id'), 'x');
  const err = await ensureBoardId(dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BoardIdError);
  expect((err as BoardIdError).message).toContain(join(dir, 'meta/board-id'));
  expect((err as BoardIdError).exitCode).toBe(2);
  expect(readFileSync(join(dir, 'meta/board-id'), 'utf8')).toBe('x');
});

const self = workerIdentity('scanner-1', 'board-aaaaaaaaaaaaaaaa');
const poller = (identity: string, ageSeconds: number): SeenPoller => ({ identity, ageSeconds, onHostQueue: false });
const worker = (over: { host?: string; boot?: string; pid?: number; board?: string }) =>
  `grin-pipeline host=${over.host ?? 'scanner-2'} machine=m2 boot=${over.boot ?? 'ffffffff'} pid=${over.pid ?? 999999} run=abcd1234${over.board ? ` board=${over.board}` : ''}`;
const nobodyAlive = { pidAlive: () => false, runningHere: () => false };

test('the identity carries the board id', () => {
  expect(self.identity).toMatch(/ board=board-aaaaaaaaaaaaaaaa$/);
});

test('a live worker with another board id counts; same board, no board id (older release) or long silent do not', () => {
  const same = poller(worker({ board: 'board-aaaaaaaaaaaaaaaa' }), 3);
  const older = poller(worker({}), 3);
  const other = poller(worker({ board: 'board-bbbbbbbbbbbbbbbb' }), 3);
  expect(otherBoardWorker([same, older], self, nobodyAlive)).toBeUndefined();
  expect(otherBoardWorker([same, other], self, nobodyAlive)).toMatchObject({ boardId: 'board-bbbbbbbbbbbbbbbb', hostId: 'scanner-2' });
  expect(otherBoardWorker([{ ...other, ageSeconds: LIVE_POLL_SECONDS + 1 }], self, nobodyAlive)).toBeUndefined();
  // On this machine: alive while its process exists, whatever the age of its last poll.
  const local = poller(worker({ boot: self.bootId, pid: 4242, board: 'board-bbbbbbbbbbbbbbbb' }), 500);
  expect(otherBoardWorker([local], self, nobodyAlive)).toBeUndefined();
  expect(otherBoardWorker([local], self, { pidAlive: (pid) => pid === 4242, runningHere: () => false })).toBeDefined();
  // A worker that says no board id of its own is not compared either.
  expect(otherBoardWorker([other], workerIdentity('scanner-1'), nobodyAlive)).toBeUndefined();
});

test('the refusal names both boards, the other host and what to do', () => {
  const other = otherBoardWorker([poller(worker({ board: 'board-bbbbbbbbbbbbbbbb' }), 7)], self, nobodyAlive)!;
  const err = new BoardMismatchError('/mnt/board', self, other);
  expect(err.message).toContain('/mnt/board (id board-aaaaaaaaaaaaaaaa)');
  expect(err.message).toContain('host "scanner-2" (id board-bbbbbbbbbbbbbbbb');
  expect(err.message).toContain('mount the shared board');
  expect(err.exitCode).toBe(2);
  expect(err.retryable).toBe(false);
});

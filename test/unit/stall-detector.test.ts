/**
 * The stall detector's decisions (src/liveness/stalls.ts): which queues are starved (tasks waiting,
 * nobody polling, past the grace), which books are quiet past what their place explains, and what
 * is not a stall (back-pressure, a retry due later, a GRIN conversion that takes days).
 */
import type { BookToken, Bucket } from '../../src/buckets/token';
import { bookStalls, describeStalls, queueStalls, type ActivityReading, type QueueReading } from '../../src/liveness/stalls';

const NOW = Date.parse('2026-01-10T12:00:00Z');
const MIN = 60_000;
const ago = (ms: number) => NOW - ms;
const iso = (ms: number) => new Date(ms).toISOString();
const queueRules = { queueGraceMs: 2 * MIN };
const bookRules = { fileStageMs: 30 * MIN, conversionMs: 96 * 60 * MIN };

function queue(over: Partial<QueueReading>): QueueReading {
  return { queue: 'files', role: 'shared-file', kind: 'activity', backlog: 0, lastPollsMs: [], ...over };
}

function token(bucket: Bucket, quietMs: number, over: Partial<BookToken> = {}): BookToken {
  return {
    barcode: `B${bucket.slice(0, 2)}${quietMs}`,
    directory: 'D',
    bucket,
    stages: { [bucket]: iso(ago(quietMs)) },
    updatedAt: iso(ago(quietMs)),
    ...over,
  };
}

const act = (over: Partial<ActivityReading>): ActivityReading => ({ type: 'decryptArchive', state: 'running', attempt: 1, ...over });

describe('queues', () => {
  test('tasks waiting with no poll for longer than the grace: stalled, with its backlog and last poll', () => {
    const stalls = queueStalls(
      [queue({ backlog: 48, backlogAgeMs: 10 * MIN, lastPollsMs: [ago(5 * MIN), ago(7 * MIN)] })],
      NOW,
      queueRules,
    );
    expect(stalls).toEqual([
      { queue: 'files', role: 'shared-file', kind: 'activity', backlog: 48, starvedMs: 5 * MIN, lastPollMs: ago(5 * MIN) },
    ]);
  });

  test('no poller the server remembers: starved since the oldest task', () => {
    const [s] = queueStalls([queue({ backlog: 3, backlogAgeMs: 4 * MIN })], NOW, queueRules);
    expect(s.starvedMs).toBe(4 * MIN);
    expect(s.lastPollMs).toBeUndefined();
  });

  test('a recent poll, an empty queue, or a wait shorter than the grace: not stalled', () => {
    expect(queueStalls([queue({ backlog: 48, backlogAgeMs: 60 * MIN, lastPollsMs: [ago(10_000)] })], NOW, queueRules)).toEqual([]);
    expect(queueStalls([queue({ backlog: 0, lastPollsMs: [ago(60 * MIN)] })], NOW, queueRules)).toEqual([]);
    expect(queueStalls([queue({ backlog: 2, backlogAgeMs: 90_000 })], NOW, queueRules)).toEqual([]);
  });

  test('without the backlog age, the wait counts from the first reading that saw the backlog', () => {
    const since = new Map<string, number>();
    const r = queue({ backlog: 5 });
    expect(queueStalls([r], ago(3 * MIN), queueRules, since)).toEqual([]);
    expect(queueStalls([r], ago(2 * MIN), queueRules, since)).toEqual([]);
    expect(queueStalls([r], NOW, queueRules, since).map((s) => s.starvedMs)).toEqual([3 * MIN]);
    // Emptied once: the count starts again.
    queueStalls([queue({ backlog: 0 })], NOW, queueRules, since);
    expect(queueStalls([r], NOW + MIN, queueRules, since)).toEqual([]);
  });

  test('workflow and activity tasks of one queue are judged apart', () => {
    const stalls = queueStalls(
      [
        queue({ queue: 'wf', role: 'workflow', kind: 'workflow', backlog: 1, lastPollsMs: [ago(1000)] }),
        queue({ queue: 'wf', role: 'workflow', kind: 'activity', backlog: 2, backlogAgeMs: 5 * MIN }),
      ],
      NOW,
      queueRules,
    );
    expect(stalls.map((s) => `${s.kind}:${s.queue}`)).toEqual(['activity:wf']);
  });
});

describe('books', () => {
  test('a book in a file stage quiet past the limit, board only: stalled, saying how long and its status', () => {
    const t = token('04_decrypted', 45 * MIN, { status: 'decrypted' });
    const [s] = bookStalls([{ token: t }], NOW, bookRules);
    expect(s).toMatchObject({ barcode: t.barcode, bucket: '04_decrypted', quietMs: 45 * MIN });
    expect(s.why).toMatch(/no token change for 45 min.*status: decrypted/);
  });

  test('quiet within the limit, settled, or not yet asked of GRIN: not stalled', () => {
    const books = [
      token('05_extracted', 20 * MIN),
      token('07_stored', 900 * MIN),
      token('failed', 900 * MIN),
      token('00_available', 10_000 * MIN),
    ].map((t) => ({ token: t }));
    expect(bookStalls(books, NOW, bookRules)).toEqual([]);
  });

  test('converted and waiting for a host (no file queue yet) is back-pressure; once admitted the file-stage limit applies', () => {
    expect(bookStalls([{ token: token('02_converted', 600 * MIN, { status: 'ready to download' }) }], NOW, bookRules)).toEqual([]);
    expect(bookStalls([{ token: token('02_converted', 600 * MIN, { fileQueue: 'files-host-a' }) }], NOW, bookRules)).toHaveLength(1);
  });

  test('a GRIN conversion may take days: 01_requested is stalled only past the conversion limit', () => {
    expect(bookStalls([{ token: token('01_requested', 3 * 24 * 60 * MIN) }], NOW, bookRules)).toEqual([]);
    expect(bookStalls([{ token: token('01_requested', 5 * 24 * 60 * MIN) }], NOW, bookRules)).toHaveLength(1);
  });

  test('a recent heartbeat or activity start is progress, however old the token', () => {
    const t = token('03_downloaded', 120 * MIN);
    const live = (a: ActivityReading) => ({ token: t, live: { workflowStatus: 'Running', activities: [a] } });
    expect(bookStalls([live(act({ lastHeartbeatMs: ago(MIN) }))], NOW, bookRules)).toEqual([]);
    expect(bookStalls([live(act({ lastStartedMs: ago(2 * MIN) }))], NOW, bookRules)).toEqual([]);
    const [s] = bookStalls([live(act({ lastStartedMs: ago(100 * MIN), lastHeartbeatMs: ago(90 * MIN) }))], NOW, bookRules);
    expect(s.why).toMatch(/decryptArchive attempt 1 held by a worker, no heartbeat for 90 min/);
  });

  test('waiting in a queue (the queue check covers it) or for a retry due later: not a book stall', () => {
    const t = token('03_downloaded', 120 * MIN);
    const with_ = (a: ActivityReading) => [{ token: t, live: { workflowStatus: 'Running', activities: [a] } }];
    expect(bookStalls(with_(act({ state: 'queued' })), NOW, bookRules)).toEqual([]);
    expect(bookStalls(with_(act({ state: 'backoff', nextAttemptMs: NOW + MIN, lastFailure: 'S3 unreachable' })), NOW, bookRules)).toEqual(
      [],
    );
    const [overdue] = bookStalls(
      with_(act({ state: 'backoff', attempt: 7, nextAttemptMs: ago(40 * MIN), lastFailure: 'S3 unreachable' })),
      NOW,
      bookRules,
    );
    expect(overdue.why).toMatch(/attempt 7 was due 40 min ago and has not run \(last failure: S3 unreachable\)/);
  });

  test('a workflow that is not running holds an unsettled book for good, whatever its bucket or age', () => {
    const t = token('00_available', 1 * MIN);
    const [s] = bookStalls([{ token: t, live: { workflowStatus: 'Terminated', activities: [] } }], NOW, bookRules);
    expect(s.why).toMatch(/workflow is Terminated.*resume/);
  });

  test('stalled books come oldest first and the report names each stall once', () => {
    const books = [token('04_decrypted', 40 * MIN), token('06_processed', 200 * MIN)].map((t) => ({ token: t }));
    const stalls = bookStalls(books, NOW, bookRules);
    expect(stalls.map((s) => s.bucket)).toEqual(['06_processed', '04_decrypted']);
    const lines = describeStalls({ queues: queueStalls([queue({ backlog: 48, backlogAgeMs: 5 * MIN })], NOW, queueRules), books: stalls });
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^STALLED shared file queue files: 48 activity task\(s\) waiting and no worker polled it for 300 s \(no poller the server remembers\)/,
    );
    expect(lines[1]).toMatch(/^STALLED book \S+ in 06_processed: no token change for 200 min/);
  });
});

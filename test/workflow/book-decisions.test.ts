/**
 * The book workflow's decisions (src/workflows/book-run.ts `recover()`, parking, retry, cancel) with
 * stub activities (test/support/stub-books.ts), on Temporal's time-skipping test server: the
 * settings are the configuration's defaults (host pickup 10 minutes, GRIN retries up to 30
 * minutes, a 30-day conversion wait), and the server skips the hours they add up to. New books take
 * the lean shape; the legacy shape is covered by the replay suite.
 *
 * The test server is the Java SDK's, run on the JVM from Maven Central jars
 * (devkit/devtools/tools.ts `ensureTemporalTestServer`). It serves one test at a time: time is
 * global to it.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureTemporalTestServer } from '../../devkit/devtools/tools';
import type { StageBucket } from '../../src/buckets/token';
import { FailureType } from '../../src/common/failure-types';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import {
  cancelSignal,
  conversionSeenSignal,
  retrySignal,
  type BookInput,
  type BookSettings,
  type BookStatus,
} from '../../src/workflows/contracts';
import { Book, fails, status, stubQueues, stubSettings, StubBooks, type Answer } from '../support/stub-books';

jest.setTimeout(120_000);

const queues = stubQueues('decisions');
/** The configuration's defaults: host pickup 10 minutes, GRIN retries up to 30 minutes apart, file retries up to 5. */
const settings = stubSettings(queues);
const stubs = new StubBooks(queues, settings);
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  const path = ensureTemporalTestServer({ log: (line) => process.stderr.write(`[decisions] ${line}\n`) });
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path } },
  });
  // The workflow upserts them, and the test server knows none (nor can it list them, so the
  // worker's own registration cannot be used here).
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(
      Object.keys(SEARCH_ATTRIBUTES).map((name) => [name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  await stubs.startWorkers(env.nativeConnection);
});

afterAll(async () => {
  await stubs.stopWorkers();
  await env?.teardown();
});

const start = (book: Book, extra: Partial<BookInput> = {}) => stubs.start(env.client, book, extra);

/** Skips the server's time a step at a time (a minute unless said) until the book's status satisfies `check`. */
async function skipUntil(
  handle: Awaited<ReturnType<typeof start>>,
  check: (st: BookStatus) => boolean,
  what: string,
  stepMinutes = 1,
): Promise<BookStatus> {
  for (let step = 0; step < 2000; step++) {
    const st = await status(handle);
    if (check(st)) return st;
    await env.sleep(`${stepMinutes} minutes`);
  }
  throw new Error(`${what}: not reached within ${2000 * stepMinutes} minutes of skipped time`);
}

const parked = (handle: Awaited<ReturnType<typeof start>>) => skipUntil(handle, (st) => st.state === 'parked', 'the book to park');
/**
 * The test server holds its clock while an activity task waits in a queue, so a host that never
 * picks up (a queue nobody polls) times out in real time: those books get a 1-second pickup limit.
 */
const ghostHostSettings: BookSettings = { ...settings, hostPickupTimeoutSeconds: 1 };

const waitingForWatcher = (handle: Awaited<ReturnType<typeof start>>) =>
  skipUntil(handle, (st) => st.activity.startsWith('waiting for GRIN to convert ('), 'the book to wait for the watcher');

test('a book whose stubs all succeed walks the lean stage table to 07_stored', async () => {
  const book = new Book();
  const handle = await start(book);
  expect(await handle.result()).toBe('stored');
  expect(book.names).toEqual(['registerBook', 'requestConversion', 'fetchArchive', 'decryptArchive', 'extractAndProcess', 'storeBook']);
  expect(book.named('decryptArchive')[0].queue).toBe(queues.hostA);
  expect(book.bucket).toBe('07_stored');
});

test('a package gone from GRIN at download is requested again, and the book is stored', async () => {
  const book = new Book().answer('fetchArchive', fails(FailureType.ArchiveNotFound));
  const handle = await start(book);
  expect(await handle.result()).toBe('stored');
  expect(book.named('requestConversion')).toHaveLength(2);
  expect(book.named('fetchArchive')).toHaveLength(2);
  expect((await status(handle)).reRequests).toBe(1);
});

test('a conversion request GRIN lost (the watcher says so) is requested again', async () => {
  const notConverted: Answer = () => ({ outcome: 'requested' });
  const book = new Book().answer('requestConversion', () => {
    book.bucket = '01_requested';
    return notConverted({});
  });
  const handle = await start(book);
  await waitingForWatcher(handle);
  await handle.signal(conversionSeenSignal, { state: 'lost', message: 'in neither listing' });
  expect(await handle.result()).toBe('stored');
  expect(book.named('requestConversion')).toHaveLength(2);
  expect((await status(handle)).reRequests).toBe(1);
});

test('after five re-requests the book parks; retry starts the stage over with the counters reset, and it is stored', async () => {
  const gone = fails(FailureType.ArchiveNotFound);
  // Gone for the first download and the five after re-requests, and once more after the retry.
  const book = new Book().answer('fetchArchive', gone, gone, gone, gone, gone, gone, gone);
  const handle = await start(book);
  const st = await parked(handle);
  expect(st.reRequests).toBe(5);
  expect(st.lastError).toEqual({ stage: '03_downloaded', message: 'stub ArchiveNotFoundError', type: FailureType.ArchiveNotFound });
  expect(book.named('requestConversion')).toHaveLength(6);
  expect(book.named('parkBook').map((c) => c.input.stage)).toEqual(['03_downloaded']);
  expect(book.bucket).toBe('failed');

  await handle.signal(retrySignal);
  expect(await handle.result()).toBe('stored');
  expect(book.named('unparkBook').map((c) => c.input.backTo)).toEqual(['02_converted']);
  // The package still gone after the retry is requested again, not parked: the counter was reset.
  expect(book.named('fetchArchive')).toHaveLength(8);
  expect(book.named('requestConversion')).toHaveLength(7);
  const after = await status(handle);
  expect([after.reRequests, after.state]).toEqual([1, 'stored']);
  // New runs carry the `lean-book` patch (docs/workflow-changes.md): a marker, and GrinStage
  // upserted only when the book settles or leaves `failed`, never to the value it already had.
  const events = (await handle.fetchHistory()).events ?? [];
  expect(events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toBe(true);
  const upserted = events.flatMap((e) => {
    const data = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.GrinStage?.data;
    const value = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string | string[]) : undefined;
    return value === undefined ? [] : [Array.isArray(value) ? value[0] : value];
  });
  expect(upserted).toEqual(['failed', '02_converted', '07_stored']);
});

test('a host that never picks up the next stage is a host move: download again elsewhere, no park', async () => {
  const book = new Book().answer('fetchArchive', () => {
    book.bucket = '03_downloaded';
    return { fileQueue: queues.ghost, bytes: 1 };
  });
  const handle = await start(book, { settings: ghostHostSettings });
  expect(await handle.result()).toBe('stored');
  expect(book.named('fetchArchive')).toHaveLength(2);
  expect(book.named('rewindBook').map((c) => c.input.to)).toEqual(['02_converted']);
  expect(book.named('parkBook')).toHaveLength(0);
  expect(book.named('decryptArchive').map((c) => c.queue)).toEqual([queues.hostA]);
  expect((await status(handle)).hostMoves).toBe(1);
});

test('past five host moves the book pauses before each further move (1 s, then 2 s) and never parks', async () => {
  const ghost: Answer = () => {
    book.bucket = '03_downloaded';
    return { fileQueue: queues.ghost, bytes: 1 };
  };
  const book = new Book().answer('fetchArchive', ghost, ghost, ghost, ghost, ghost, ghost, ghost);
  const handle = await start(book, { settings: ghostHostSettings });
  expect(await handle.result()).toBe('stored');
  const rewinds = book.named('rewindBook').map((c) => String(c.input.status));
  expect(rewinds).toHaveLength(7);
  expect(rewinds.slice(0, 5).every((s) => s.endsWith('downloading again on another host'))).toBe(true);
  expect(rewinds[5]).toMatch(/^waiting 1 s for a file host: its file host is gone \(6 hosts lost so far\)/);
  expect(rewinds[6]).toMatch(/^waiting 2 s for a file host: its file host is gone \(7 hosts lost so far\)/);
  expect(book.named('parkBook')).toHaveLength(0);
  expect((await status(handle)).hostMoves).toBe(7);
});

test('local files gone from the host (LocalCopyMissingError) is a host move, not the integrity path', async () => {
  const book = new Book().answer('extractAndProcess', fails(FailureType.LocalCopyMissing));
  const handle = await start(book);
  expect(await handle.result()).toBe('stored');
  expect(book.named('discardLocalFiles')).toHaveLength(0);
  expect(book.named('rewindBook').map((c) => String(c.input.status))).toEqual([
    expect.stringMatching(/^its local copy is gone from decisions-host-a-/),
  ]);
  expect(book.named('fetchArchive')).toHaveLength(2);
  expect((await status(handle)).hostMoves).toBe(1);
});

test('an integrity failure discards the local copy and downloads once more, then the book is stored', async () => {
  const book = new Book().answer('extractAndProcess', fails(FailureType.ChecksumMismatch, { redownload: true }));
  const handle = await start(book);
  expect(await handle.result()).toBe('stored');
  expect(book.names).toEqual([
    'registerBook',
    'requestConversion',
    'fetchArchive',
    'decryptArchive',
    'extractAndProcess',
    'discardLocalFiles',
    'rewindBook',
    'fetchArchive',
    'decryptArchive',
    'extractAndProcess',
    'storeBook',
  ]);
  expect(book.named('discardLocalFiles')[0].queue).toBe(queues.hostA);
});

test('a fresh copy that fails the same way parks the book at 05_extracted, saying so', async () => {
  const bad = fails(FailureType.ChecksumMismatch, { redownload: true });
  const book = new Book().answer('extractAndProcess', bad, bad);
  const handle = await start(book);
  const st = await parked(handle);
  expect(st.lastError?.stage).toBe('05_extracted');
  expect(st.lastError?.message).toBe(
    'stub ChecksumMismatchError (the freshly downloaded copy failed the same way, so the archive itself is damaged)',
  );
  expect(book.named('fetchArchive')).toHaveLength(2);
  await handle.signal(cancelSignal, 'damaged at GRIN');
  expect(await handle.result()).toBe('cancelled');
  expect(book.named('cancelBook').map((c) => c.input.reason)).toEqual(['damaged at GRIN']);
  expect(book.bucket).toBe('cancelled');
});

test('a token deleted by hand is rebuilt where the book is and the stage runs again', async () => {
  const book = new Book().answer('decryptArchive', fails(FailureType.BookNotOnBoard));
  const handle = await start(book);
  expect(await handle.result()).toBe('stored');
  expect(book.named('rebuildToken').map((c) => [c.input.bucket, c.input.fileQueue])).toEqual([['03_downloaded', queues.hostA]]);
  expect(book.named('decryptArchive')).toHaveLength(2);
  expect(book.named('parkBook')).toHaveLength(0);
});

test('a token that keeps vanishing is rebuilt three times, then the book parks', async () => {
  const lost = fails(FailureType.TokenFile);
  const book = new Book().answer('decryptArchive', lost, lost, lost, lost);
  const handle = await start(book);
  const st = await parked(handle);
  expect(book.named('rebuildToken')).toHaveLength(3);
  expect(st.lastError).toMatchObject({ stage: '04_decrypted', type: FailureType.TokenFile });
  await handle.signal(cancelSignal);
  expect(await handle.result()).toBe('cancelled');
  expect(book.named('cancelBook').map((c) => c.input.reason)).toEqual(['cancelled by operator']);
});

test('a new run of a book an earlier run parked stays parked; retry resumes at the failed stage on the host that has its files', async () => {
  const book = new Book();
  book.registered = {
    bucket: 'failed',
    created: false,
    fileQueue: queues.hostB,
    grinFilename: 'x.tar.gz.gpg',
    lastError: { stage: '05_extracted', message: 'earlier failure', type: FailureType.Decrypt },
  };
  const handle = await start(book);
  const st = await parked(handle);
  expect(st.lastError).toEqual({ stage: '05_extracted', message: 'earlier failure', type: FailureType.Decrypt });
  expect(book.names).toEqual(['registerBook']);
  await handle.signal(retrySignal);
  expect(await handle.result()).toBe('stored');
  expect(book.names).toEqual(['registerBook', 'unparkBook', 'findLocalProgress', 'extractAndProcess', 'storeBook']);
  expect(book.named('unparkBook')[0].input.backTo).toBe('04_decrypted');
  expect(book.named('findLocalProgress').map((c) => [c.queue, c.input.bucket])).toEqual([[queues.hostB, '04_decrypted']]);
});

test("a new run whose host lost the later stages' files rewinds to the furthest bucket it holds", async () => {
  const book = new Book().answer('findLocalProgress', () => ({ bucket: '03_downloaded' satisfies StageBucket }));
  book.registered = { bucket: '06_processed', created: false, fileQueue: queues.hostB };
  const handle = await start(book);
  expect(await handle.result()).toBe('stored');
  expect(book.names).toEqual(['registerBook', 'findLocalProgress', 'rewindBook', 'decryptArchive', 'extractAndProcess', 'storeBook']);
  expect(book.named('rewindBook')[0].input.to).toBe('03_downloaded');
  expect(book.named('decryptArchive')[0].queue).toBe(queues.hostB);
});

test('a cancel through Temporal while the book waits for GRIN is the cancel signal: token to cancelled, run completes', async () => {
  const book = new Book().answer('requestConversion', () => {
    book.bucket = '01_requested';
    return { outcome: 'requested' };
  });
  const handle = await start(book);
  await waitingForWatcher(handle);
  await handle.cancel();
  expect(await handle.result()).toBe('cancelled');
  expect(book.named('cancelBook').map((c) => c.input.reason)).toEqual([expect.stringMatching(/^cancelled through Temporal/)]);
  expect(book.bucket).toBe('cancelled');
});

test('a GRIN conversion failure parks the book at 02_converted with its type', async () => {
  const book = new Book().answer('requestConversion', () => {
    book.bucket = '01_requested';
    return { outcome: 'requested' };
  });
  const handle = await start(book);
  await waitingForWatcher(handle);
  await handle.signal(conversionSeenSignal, { state: 'failed', message: 'GRIN says the conversion failed' });
  const st = await parked(handle);
  expect(st.lastError).toEqual({
    stage: '02_converted',
    message: 'GRIN says the conversion failed',
    type: FailureType.GrinConversionFailed,
  });
  await handle.signal(cancelSignal, 'GRIN cannot convert it');
  expect(await handle.result()).toBe('cancelled');
  expect(book.named('requestConversion')).toHaveLength(1);
});

/** A transient failure, as src/activities/failures.ts reports one: Temporal's policy retries it. */
const unavailable =
  (what: string): Answer =>
  () => {
    throw ApplicationFailure.retryable(`stub: ${what} unavailable`, 'StubUnavailableError');
  };
const HOUR_MS = 3_600_000;

test('GRIN down for hours: the request is retried, at most 30 minutes apart, and the book never parks', async () => {
  const down = unavailable('GRIN');
  const book = new Book().answer('requestConversion', ...Array.from({ length: 12 }, () => down));
  const handle = await start(book);
  expect(await handle.result()).toBe('stored');
  const requests = book.named('requestConversion').map((c) => c.scheduledMs);
  expect(requests).toHaveLength(13);
  expect(book.named('parkBook')).toHaveLength(0);
  // Waits doubling from 10 s up to the 30-minute cap (the test server makes the first retry at
  // once), about 2.2 hours in all, without a park.
  const gaps = requests.slice(1).map((at, i) => Math.round((at - requests[i]) / 1000));
  expect(gaps.slice(-8)).toEqual([80, 160, 320, 640, 1280, 1800, 1800, 1800]);
  expect(requests.at(-1)! - requests[0]).toBeGreaterThan(2 * HOUR_MS);
});

test('storage down for longer than fileStageMaxDays: the book parks saying it gave up, and retry stores it', async () => {
  const down = unavailable('storage');
  // Retries at most 5 minutes apart for a day: about 290 attempts.
  const book = new Book().answer('storeBook', ...Array.from({ length: 1000 }, () => down));
  const handle = await start(book, { settings: { ...settings, fileStageMaxDays: 1 } });
  const st = await skipUntil(handle, (s) => s.state === 'parked', 'the book to park', 60);
  expect(st.lastError?.message).toBe(
    'gave up retrying after the configured limit (timeouts.fileStageMaxDays / conversionWaitDays): stub: storage unavailable',
  );
  const tries = book.named('storeBook').map((c) => c.scheduledMs);
  expect(tries.length).toBeGreaterThan(280);
  expect(tries.at(-1)! - tries[0]).toBeGreaterThan(23 * HOUR_MS);
  expect(book.named('parkBook')).toHaveLength(1);
  const attempts = book.named('storeBook').length;
  book.unscript('storeBook');
  await handle.signal(retrySignal);
  expect(await handle.result()).toBe('stored');
  expect(book.named('storeBook')).toHaveLength(attempts + 1);
});

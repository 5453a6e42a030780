/**
 * The book workflow's decisions (src/workflows/book-run.ts `recover()`, parking, retry, cancel) with
 * stub activities: each stub records its call and answers as the test scripts it, and keeps the
 * board's bucket the way the real activity moves the token. Seconds per case instead of the minutes
 * the integration tests need with the simulator, S3 and real file stages.
 *
 * Time skipping (`TestWorkflowEnvironment.createTimeSkipping`) needs a test-server binary downloaded
 * at run time, which this project's machines cannot fetch; these run against the dev server that
 * jest's global setup starts, with timers of a second or two (host pickup 1 s, so pauses of 1 s, 2 s).
 * New books take the lean shape; the legacy shape is covered by the replay suite.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { StageBucket } from '../../src/buckets/token';
import { FailureType, type FailureTypeName } from '../../src/common/failure-types';
import type { bookWorkflow } from '../../src/workflows';
import {
  bookWorkflowId,
  cancelSignal,
  conversionSeenSignal,
  retrySignal,
  statusQuery,
  type BookInput,
  type BookSettings,
  type BookStatus,
} from '../../src/workflows/contracts';
import { temporalAddress, workflowBundle } from '../support/pipeline';
import { waitUntil } from '../support/wait';

jest.setTimeout(120_000);

const run = randomUUID().slice(0, 8);
const queues = {
  workflow: `decisions-wf-${run}`,
  grin: `decisions-grin-${run}`,
  files: `decisions-files-${run}`,
  hostA: `decisions-host-a-${run}`,
  hostB: `decisions-host-b-${run}`,
  /** A host queue nobody polls: a host that is gone. */
  ghost: `decisions-ghost-${run}`,
};
const settings: BookSettings = {
  grinTaskQueue: queues.grin,
  fileTaskQueue: queues.files,
  pollIntervalSeconds: 1,
  queueFullRetrySeconds: 1,
  maxConversionWaitHours: 1,
  hostPickupTimeoutSeconds: 1,
  heartbeatTimeoutSeconds: 5,
  grinRetryMaxSeconds: 1,
  fileRetryMaxSeconds: 1,
};

interface Call {
  name: string;
  queue: string;
  input: Record<string, unknown>;
}
type Answer = (input: Record<string, unknown>) => unknown;

/** One book's stubs: the calls they saw, the board as they keep it, and scripted answers per activity. */
class Book {
  readonly barcode = `3901500${Math.floor(Math.random() * 1e7)
    .toString()
    .padStart(7, '0')}`;
  readonly calls: Call[] = [];
  bucket = '00_available';
  registered: Record<string, unknown> = { bucket: '00_available', created: true };
  private readonly script = new Map<string, Answer[]>();

  /** The next calls of `name` answer with these, in order; afterwards the default answer. */
  answer(name: string, ...answers: Answer[]): this {
    this.script.set(name, [...(this.script.get(name) ?? []), ...answers]);
    return this;
  }

  scripted(name: string): Answer | undefined {
    return this.script.get(name)?.shift();
  }

  named(name: string): Call[] {
    return this.calls.filter((c) => c.name === name);
  }

  get names(): string[] {
    return this.calls.map((c) => c.name);
  }
}

const books = new Map<string, Book>();

/** What each activity does by default: the token moves as the real activity moves it. */
const defaults: Record<string, (book: Book, input: Record<string, unknown>) => unknown> = {
  registerBook: (book) => {
    book.bucket = String(book.registered.bucket);
    return book.registered;
  },
  requestConversion: (book) => {
    book.bucket = '02_converted';
    return { outcome: 'requested', converted: `${book.barcode}.tar.gz.gpg` };
  },
  markConverted: (book) => void (book.bucket = '02_converted'),
  fetchArchive: (book) => {
    book.bucket = '03_downloaded';
    return { fileQueue: queues.hostA, bytes: 1 };
  },
  decryptArchive: (book) => {
    book.bucket = '04_decrypted';
    return { path: 'x', bytes: 1 };
  },
  extractAndProcess: (book) => void (book.bucket = '06_processed'),
  processBook: (book) => void (book.bucket = '06_processed'),
  storeBook: (book) => {
    book.bucket = '07_stored';
    return {};
  },
  findLocalProgress: (_book, input) => ({ bucket: input.bucket }),
  discardLocalFiles: () => undefined,
  rewindBook: (book, input) => void (book.bucket = String(input.to)),
  parkBook: (book) => void (book.bucket = 'failed'),
  unparkBook: (book, input) => void (book.bucket = String(input.backTo)),
  cancelBook: (book) => void (book.bucket = 'cancelled'),
  rebuildToken: () => ({ rebuilt: true, setAside: [] }),
  notifyBatch: () => 'batch-not-running',
};

function stubActivities(): Record<string, (input: Record<string, unknown>) => Promise<unknown>> {
  return Object.fromEntries(
    Object.entries(defaults).map(([name, fallback]) => [
      name,
      async (input: Record<string, unknown>) => {
        const book = books.get(String(input.barcode));
        if (!book) throw ApplicationFailure.nonRetryable(`no stub book ${String(input.barcode)}`);
        book.calls.push({ name, queue: Context.current().info.taskQueue, input });
        const scripted = book.scripted(name);
        return scripted ? scripted(input) : fallback(book, input);
      },
    ]),
  );
}

/** A failure as src/activities/failures.ts reports an error of that type. */
const fails =
  (type: FailureTypeName, opts: { retryable?: boolean; redownload?: boolean } = {}): Answer =>
  () => {
    throw ApplicationFailure.create({
      type,
      message: `stub ${type}`,
      nonRetryable: !opts.retryable,
      details: [opts.redownload ? { redownload: true } : {}],
    });
  };

let env: TestWorkflowEnvironment;
let workers: Worker[] = [];
let running: Promise<void>[] = [];

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  const activities = stubActivities();
  const connection = env.nativeConnection;
  workers = await Promise.all([
    Worker.create({ connection, taskQueue: queues.workflow, workflowBundle: await workflowBundle(), activities }),
    ...[queues.grin, queues.files, queues.hostA, queues.hostB].map((taskQueue) => Worker.create({ connection, taskQueue, activities })),
  ]);
  running = workers.map((w) => w.run());
});

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await Promise.all(running);
  await env?.teardown();
});

async function start(book: Book, extra: Partial<BookInput> = {}): Promise<WorkflowHandle<typeof bookWorkflow>> {
  books.set(book.barcode, book);
  const directory = `decisions-${run}`;
  return env.client.workflow.start<typeof bookWorkflow>('bookWorkflow', {
    taskQueue: queues.workflow,
    workflowId: bookWorkflowId(directory, book.barcode),
    args: [{ barcode: book.barcode, directory, settings, ...extra }],
  });
}

const status = (handle: WorkflowHandle) => handle.query(statusQuery);

async function parked(handle: WorkflowHandle): Promise<BookStatus> {
  let last: BookStatus | undefined;
  await waitUntil(async () => (last = await status(handle)).state === 'parked', 60_000, 'the book to park');
  return last!;
}

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
  await waitUntil(
    async () => (await status(handle)).activity.startsWith('waiting for GRIN to convert ('),
    60_000,
    'the book to wait for the watcher',
  );
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
  const handle = await start(book);
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
  const handle = await start(book);
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
  await waitUntil(
    async () => (await status(handle)).activity.startsWith('waiting for GRIN to convert ('),
    60_000,
    'the book to wait for the watcher',
  );
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
  await waitUntil(
    async () => (await status(handle)).activity.startsWith('waiting for GRIN to convert ('),
    60_000,
    'the book to wait for the watcher',
  );
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

test('books that park while they are queried replay after they finish (the park-reason patch is not asked after a local activity)', async () => {
  // The status polls race the parkBook local activity: a query can complete the workflow task that
  // records its marker before the code after it runs, and a patch first asked in that code was
  // answered "no" on replay (a nondeterminism error on any later query), in about one book in six.
  const gone = fails(FailureType.ArchiveNotFound);
  const many = Array.from({ length: 30 }, () => new Book().answer('fetchArchive', gone, gone, gone, gone, gone, gone));
  const handles = await Promise.all(many.map((b) => start(b)));
  await Promise.all(
    handles.map(async (h) => {
      await parked(h);
      await h.signal(retrySignal);
      expect(await h.result()).toBe('stored');
    }),
  );
  // A closed workflow answers a query by replaying its whole history.
  const answers = await Promise.all(
    handles.map((h) =>
      status(h).then(
        (st) => st.state,
        (err: unknown) => String(err),
      ),
    ),
  );
  expect(answers).toEqual(handles.map(() => 'stored'));
  const events = (await handles[0].fetchHistory()).events ?? [];
  const patches = events.flatMap((e) =>
    e.markerRecordedEventAttributes?.markerName === 'core_patch'
      ? [Buffer.from(e.markerRecordedEventAttributes.details?.['patch-data']?.payloads?.[0]?.data ?? []).toString('utf8')]
      : [],
  );
  expect(patches.map((p) => (JSON.parse(p) as { id: string }).id)).toEqual(['lean-book-2']);
});

/**
 * A regression of the real server's task boundaries (so on the dev server, not the time-skipping
 * one): status polls that race the `parkBook` local activity can close the workflow task that
 * records its marker before the code after it runs. A patch first asked in that code was answered
 * "no" on replay (a nondeterminism error on any later query), in about one book in six; since
 * `lean-book-2` every patch is asked first thing (docs/workflow-changes.md).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { FailureType } from '../../src/common/failure-types';
import { retrySignal } from '../../src/workflows/contracts';
import { temporalAddress } from '../support/pipeline';
import { Book, fails, status, stubQueues, stubSettings, StubBooks } from '../support/stub-books';
import { waitUntil } from '../support/wait';

jest.setTimeout(120_000);

const queues = stubQueues('park-query');
/** Short waits: the dev server cannot skip time. */
const settings = stubSettings(queues, {
  pollIntervalSeconds: 1,
  queueFullRetrySeconds: 1,
  maxConversionWaitHours: 1,
  hostPickupTimeoutSeconds: 1,
  heartbeatTimeoutSeconds: 5,
  grinRetryMaxSeconds: 1,
  fileRetryMaxSeconds: 1,
});
const stubs = new StubBooks(queues, settings);
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress() });
  await stubs.startWorkers(env.nativeConnection);
});

afterAll(async () => {
  await stubs.stopWorkers();
  await env?.teardown();
});

test('books that park while they are queried replay after they finish (the park-reason patch is not asked after a local activity)', async () => {
  const gone = fails(FailureType.ArchiveNotFound);
  const many = Array.from({ length: 30 }, () => new Book().answer('fetchArchive', gone, gone, gone, gone, gone, gone));
  const handles = await Promise.all(many.map((b) => stubs.start(env.client, b)));
  await Promise.all(
    handles.map(async (h) => {
      await waitUntil(async () => (await status(h)).state === 'parked', 60_000, 'the book to park');
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

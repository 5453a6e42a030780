/**
 * Stub activities for the book workflow's decision tests: each stub records its call, answers as the
 * test scripts it, and keeps the board's bucket the way the real activity moves the token. One
 * `StubBooks` serves a test file's workers and the workflows they start.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { FailureTypeName } from '../../src/common/failure-types';
import type { bookWorkflow } from '../../src/workflows';
import { PipelineConfigSchema } from '../../src/config/schema';
import { bookSettingsFrom } from '../../src/workflows/book-settings';
import { bookWorkflowId, statusQuery, type BookInput, type BookSettings, type BookStatus } from '../../src/workflows/contracts';
import { workflowBundle } from './pipeline';

export interface Call {
  name: string;
  queue: string;
  input: Record<string, unknown>;
  /** When the server scheduled this attempt, in its own (possibly skipped) time. */
  scheduledMs: number;
}
export type Answer = (input: Record<string, unknown>) => unknown;

/** Task queues of one test file, unique to its run. */
export function stubQueues(prefix: string) {
  const run = randomUUID().slice(0, 8);
  return {
    run,
    workflow: `${prefix}-wf-${run}`,
    grin: `${prefix}-grin-${run}`,
    files: `${prefix}-files-${run}`,
    hostA: `${prefix}-host-a-${run}`,
    hostB: `${prefix}-host-b-${run}`,
    /** A host queue nobody polls: a host that is gone. */
    ghost: `${prefix}-ghost-${run}`,
  };
}
export type StubQueues = ReturnType<typeof stubQueues>;

/** A book's settings as `bookSettingsFrom` makes them from the configuration's defaults, on these queues. */
export function stubSettings(queues: StubQueues, overrides: Partial<BookSettings> = {}): BookSettings {
  return bookSettingsFrom(PipelineConfigSchema.parse({}), { grinTaskQueue: queues.grin, fileTaskQueue: queues.files, ...overrides });
}

/** One book's stubs: the calls they saw, the board as they keep it, and scripted answers per activity. */
export class Book {
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

  /** Drops the answers of `name` not used yet: its calls get the default answer from now on. */
  unscript(name: string): this {
    this.script.delete(name);
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

/** A failure as src/activities/failures.ts reports an error of that type. */
export const fails =
  (type: FailureTypeName, opts: { retryable?: boolean; redownload?: boolean } = {}): Answer =>
  () => {
    throw ApplicationFailure.create({
      type,
      message: `stub ${type}`,
      nonRetryable: !opts.retryable,
      details: [opts.redownload ? { redownload: true } : {}],
    });
  };

export class StubBooks {
  private readonly books = new Map<string, Book>();
  private workers: Worker[] = [];
  private running: Promise<void>[] = [];

  constructor(
    readonly queues: StubQueues,
    readonly settings: BookSettings,
  ) {}

  /** What each activity does by default: the token moves as the real activity moves it. */
  private readonly defaults: Record<string, (book: Book, input: Record<string, unknown>) => unknown> = {
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
      return { fileQueue: this.queues.hostA, bytes: 1 };
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

  private activities(): Record<string, (input: Record<string, unknown>) => Promise<unknown>> {
    return Object.fromEntries(
      Object.entries(this.defaults).map(([name, fallback]) => [
        name,
        async (input: Record<string, unknown>) => {
          const book = this.books.get(String(input.barcode));
          if (!book) throw ApplicationFailure.nonRetryable(`no stub book ${String(input.barcode)}`);
          const { taskQueue, currentAttemptScheduledTimestampMs } = Context.current().info;
          book.calls.push({ name, queue: taskQueue, input, scheduledMs: currentAttemptScheduledTimestampMs });
          const scripted = book.scripted(name);
          return scripted ? scripted(input) : fallback(book, input);
        },
      ]),
    );
  }

  /** The workflow worker and one worker per activity queue but the ghost host's. */
  async startWorkers(connection: NativeConnection): Promise<void> {
    const activities = this.activities();
    const q = this.queues;
    this.workers = await Promise.all([
      Worker.create({ connection, taskQueue: q.workflow, workflowBundle: await workflowBundle(), activities }),
      ...[q.grin, q.files, q.hostA, q.hostB].map((taskQueue) => Worker.create({ connection, taskQueue, activities })),
    ]);
    this.running = this.workers.map((w) => w.run());
  }

  async stopWorkers(): Promise<void> {
    for (const w of this.workers) w.shutdown();
    await Promise.all(this.running);
  }

  async start(client: Client, book: Book, extra: Partial<BookInput> = {}): Promise<WorkflowHandle<typeof bookWorkflow>> {
    this.books.set(book.barcode, book);
    const directory = `decisions-${this.queues.run}`;
    return client.workflow.start<typeof bookWorkflow>('bookWorkflow', {
      taskQueue: this.queues.workflow,
      workflowId: bookWorkflowId(directory, book.barcode),
      args: [{ barcode: book.barcode, directory, settings: this.settings, ...extra }],
    });
  }
}

export const status = (handle: WorkflowHandle): Promise<BookStatus> => handle.query(statusQuery);

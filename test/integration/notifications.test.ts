/**
 * Notifications (issue 24, item 7) with real servers: a local HTTP receiver as the webhook (its
 * first answer a 503, so delivery retries), a fake `sendmail` on PATH that keeps each message, the
 * Temporal dev server and the GRIN simulator. A batch with one damaged archive sends one "books
 * parked" message (with the reason) and one "batch finished" with its counts, by both channels;
 * a batch started with no worker running (its workflow queue has a task and no poller) makes the stall
 * watch send one "stalled" message, however many checks see it.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { scrubText } from '../../src/common/secret-values';
import { createLogger } from '../../src/logging/logger';
import type { StallReport } from '../../src/liveness/stalls';
import { startStallWatch } from '../../src/liveness/watch';
import { createNotifier, type Notification } from '../../src/notify/notifier';
import type { RunningSimulator } from '../../devkit/simulator';
import { batchWorkflowId } from '../../src/workflows/contracts';
import { startTestSimulator, startWorkers, temporalClient, testEnv, type TestEnv } from '../support/pipeline';
import { PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(600_000);

let sim: RunningSimulator;
let env: TestEnv;
let server: Server;
let webhook: string;
const posts: { path: string; body: Notification }[] = [];
let requests = 0;
let mailDir: string;
const savedPath = process.env.PATH;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      requests++;
      // The first delivery meets a failing receiver: the notifier tries again.
      if (requests === 1) {
        res.writeHead(503).end();
        return;
      }
      posts.push({ path: req.url ?? '', body: JSON.parse(body) as Notification });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  webhook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T0-secret-path-4242`;
  sim = await startTestSimulator('notify', {
    books: 4,
    seed: 24,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 2, max: 3 },
    pageImageBytes: 4 * 1024,
  });
  env = testEnv(sim, 'notify', {
    notify: { webhook, mailTo: ['ops@example.org'], parkWindowSeconds: 2 },
    metrics: { queueStallSeconds: 1 },
  });
  // A fake sendmail on PATH: each message read from standard input into its own file.
  const bin = join(env.dir, 'bin');
  mailDir = join(env.dir, 'mail');
  mkdirSync(bin);
  mkdirSync(mailDir);
  writeFileSync(join(bin, 'sendmail'), `#!/bin/sh\n[ "$1" = "-t" ] || exit 64\ncat > "${mailDir}/mail-$$-$(date +%s%N).txt"\n`);
  chmodSync(join(bin, 'sendmail'), 0o755);
  process.env.PATH = `${bin}:${savedPath}`;
});

afterAll(async () => {
  process.env.PATH = savedPath;
  await new Promise((r) => server?.close(r));
  await sim?.close();
  env?.cleanup();
});

const mails = () => readdirSync(mailDir).map((f) => readFileSync(join(mailDir, f), 'utf8'));

test('a batch with a parked book: one grouped park message with the reason, one batch message with the counts, by webhook and mail', async () => {
  const workers = await startWorkers(env.config, { stallWatch: false });
  try {
    const client = await temporalClient();
    const barcodes = sim.barcodes.slice(0, 3);
    sim.setFaults({ notGzip: { barcodes: [barcodes[2]] } });
    const handle = await startBatch(client, env.config, barcodes, {
      batchId: 'told',
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    expect(await handle.result()).toMatchObject({ stored: 2, failed: 1 });
    await waitUntil(
      async () => posts.some((p) => p.body.event === 'batch-finished') && posts.some((p) => p.body.event === 'books-parked'),
      PATIENCE_MS,
      'both messages at the webhook',
    );
    await waitUntil(async () => mails().length >= 2, PATIENCE_MS, 'both messages by mail');
  } finally {
    await workers.stop();
  }
  expect(requests).toBeGreaterThan(posts.length); // the 503 was retried
  expect(posts.every((p) => p.path === '/hooks/T0-secret-path-4242')).toBe(true);
  const parked = posts.filter((p) => p.body.event === 'books-parked');
  expect(parked).toHaveLength(1);
  expect(parked[0].body.details).toEqual({
    kind: 'books-parked',
    books: [expect.objectContaining({ barcode: sim.barcodes[2], stage: expect.any(String), reason: expect.any(String) })],
  });
  expect(parked[0].body.text).toContain(`${sim.barcodes[2]}: `);
  const finished = posts.filter((p) => p.body.event === 'batch-finished');
  expect(finished).toHaveLength(1);
  expect(finished[0].body).toMatchObject({
    directory: env.config.grin.directory,
    details: { kind: 'batch-finished', batchId: 'told', total: 3, stored: 2, failed: 1, cancelled: 0 },
  });
  expect(finished[0].body.title).toBe('grin-pipeline: batch told finished: 2 of 3 stored, 1 parked, 0 cancelled');
  const subjects = mails()
    .map((m) => /^Subject: (.*)$/m.exec(m)?.[1])
    .sort();
  expect(subjects).toEqual([finished[0].body.title, parked[0].body.title].sort());
  expect(mails().every((m) => /^To: ops@example\.org$/m.test(m))).toBe(true);
  // The URL's path is a secret: registered, so no log line or output can carry it.
  expect(scrubText(`posting to ${webhook}`)).not.toContain('T0-secret-path-4242');
});

test('a queue nobody polls (no worker running): the stall watch sends one "stalled" message while it lasts', async () => {
  const client = await temporalClient();
  const config = env.config;
  const reports: StallReport[] = [];
  const notifier = createNotifier(config.notify, config.grin.directory, createLogger({ level: 'error' }), { retryMs: 100 });
  const board = await Board.open(config.pipelineDir);
  // No worker runs now: the batch's first workflow task waits on a queue nobody polls.
  const watch = startStallWatch({
    client,
    config,
    board,
    logger: createLogger({ level: 'error' }),
    intervalMs: 1000,
    notifier,
    onReport: (r) => reports.push(r),
  });
  try {
    const before = posts.filter((p) => p.body.event === 'stalled').length;
    await startBatch(client, config, [sim.barcodes[3]], {
      batchId: 'stalled-told',
      settings: bookSettingsFrom(config, { pollIntervalSeconds: 1 }),
    });
    await waitUntil(
      async () => posts.filter((p) => p.body.event === 'stalled').length > before,
      PATIENCE_MS,
      'a stalled message at the webhook',
    );
    const seen = reports.length;
    await waitUntil(async () => reports.length >= seen + 3, PATIENCE_MS, 'three more checks');
    await notifier.flush();
    const stalled = posts.filter((p) => p.body.event === 'stalled').slice(before);
    expect(stalled).toHaveLength(1);
    expect(stalled[0].body.text).toMatch(/^STALLED workflow queue /m);
    expect(reports.slice(seen).every((r) => r.queues.length > 0)).toBe(true);
  } finally {
    await watch.stop();
    await client.workflow
      .getHandle(batchWorkflowId(config.grin.directory, 'stalled-told'))
      .terminate()
      .catch(() => undefined);
  }
});

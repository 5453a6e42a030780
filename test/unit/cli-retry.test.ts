/** The CLI's one retry layer for GRIN work (src/cli/retry.ts): what it retries, what it says, how an abort ends it. */
import { retrying } from '../../src/cli/retry';
import { GrinAuthError, GrinHttpError, QueueFullError } from '../../src/grin/errors';
import { statusError } from '../../src/grin/http';

const ctx = { endpoint: 'GET /TEST/_converted' };
const fast = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

test('a transient failure is tried again, with a "retrying in N s (reason)" line per wait', async () => {
  const lines: string[] = [];
  let calls = 0;
  const result = await retrying(
    "GRIN's converted queue",
    async (attempt) => {
      calls++;
      if (attempt < 3) throw statusError(ctx, 503);
      return 'listed';
    },
    { policy: fast, log: (line) => lines.push(line) },
  );
  expect(result).toBe('listed');
  expect(calls).toBe(3);
  expect(lines).toEqual([
    "GRIN's converted queue: retrying in 0.0 s (GRIN GET /TEST/_converted, HTTP 503: unexpected HTTP status 503); attempt 2 of 3",
    "GRIN's converted queue: retrying in 0.0 s (GRIN GET /TEST/_converted, HTTP 503: unexpected HTTP status 503); attempt 3 of 3",
  ]);
});

test("the last attempt's error is thrown as it is", async () => {
  const errors = [statusError(ctx, 500), statusError(ctx, 502), statusError(ctx, 504)];
  let calls = 0;
  const err = await retrying(
    'x',
    async () => {
      throw errors[calls++];
    },
    { policy: fast, log: () => undefined },
  ).catch((e: unknown) => e);
  expect(err).toBe(errors[2]);
  expect(calls).toBe(3);
});

test('permanent failures, and faults only an operator can end (credentials), are not retried', async () => {
  for (const error of [statusError(ctx, 400), new GrinAuthError(ctx, 'refused'), new Error('a bug')]) {
    const lines: string[] = [];
    let calls = 0;
    const err = await retrying(
      'x',
      async () => {
        calls++;
        throw error;
      },
      { policy: fast, log: (line) => lines.push(line) },
    ).catch((e: unknown) => e);
    expect(err).toBe(error);
    expect(calls).toBe(1);
    expect(lines).toEqual([]);
  }
});

test('a delay the error asks for (Retry-After) is waited, up to the longest backoff', async () => {
  const lines: string[] = [];
  const full = new QueueFullError({ endpoint: 'GET /TEST/_process' }, new Map(), ['B1'], 3_600);
  const started = Date.now();
  await retrying(
    'x',
    async (attempt) => {
      if (attempt === 1) throw full;
      return undefined;
    },
    { policy: { attempts: 2, baseDelayMs: 1, maxDelayMs: 300 }, log: (line) => lines.push(line) },
  );
  expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  expect(lines).toEqual([expect.stringMatching(/^x: retrying in 0\.3 s \(GRIN GET \/TEST\/_process: the conversion queue is full/)]);
});

test("an abort ends the wait at once with the abort's reason, and no attempt follows", async () => {
  const controller = new AbortController();
  const reason = new Error('interrupted');
  let calls = 0;
  const run = retrying(
    'x',
    async () => {
      calls++;
      throw new GrinHttpError(ctx, 'cut short', { retryable: true });
    },
    { policy: { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 }, log: () => controller.abort(reason), signal: controller.signal },
  );
  const started = Date.now();
  await expect(run).rejects.toBe(reason);
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(calls).toBe(1);
});

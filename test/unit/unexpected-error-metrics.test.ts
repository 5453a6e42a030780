/**
 * An error nothing classified is counted by the activity metrics interceptor, by activity and error
 * class, with the attempt that met it: whether the activity converted it (classified) or threw it raw.
 * Ours (PipelineErrors, cancellations) are never counted as unexpected.
 */
import { ApplicationFailure, CancelledFailure, type MetricMeter, type MetricTags } from '@temporalio/common';
import { toFailure } from '../../src/activities/failures';
import { DecryptError } from '../../src/archive/errors';
import { metricsInterceptor } from '../../src/metrics/activity-interceptor';
import { PipelineMetrics, UNEXPECTED_ERROR_ATTEMPT, UNEXPECTED_ERRORS } from '../../src/metrics/pipeline-metrics';

type Recorded = { name: string; value: number; tags: MetricTags };

function recordingMeter(recorded: Recorded[]): MetricMeter {
  const metric = (name: string) => ({
    name,
    add: (value: number, tags: MetricTags = {}) => recorded.push({ name, value, tags }),
    record: (value: number, tags: MetricTags = {}) => recorded.push({ name, value, tags }),
    set: (value: number, tags: MetricTags = {}) => recorded.push({ name, value, tags }),
    withTags: () => metric(name),
  });
  const meter = {
    createCounter: metric,
    createHistogram: metric,
    createGauge: metric,
    createUpDownCounter: metric,
    withTags: () => meter,
  };
  return meter as unknown as MetricMeter;
}

async function failWith(err: unknown, attempt: number): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  const metrics = new PipelineMetrics(recordingMeter(recorded));
  const factory = metricsInterceptor(metrics, { get: async () => null });
  const ctx = { info: { activityType: 'fetchArchive', attempt } } as unknown as Parameters<typeof factory>[0];
  const interceptors = factory(ctx);
  const execute = interceptors.inbound!.execute!;
  await expect(execute({ args: [{ barcode: 'B1' }], headers: {} }, async () => Promise.reject(err))).rejects.toBe(err);
  return recorded.filter((r) => r.name === UNEXPECTED_ERRORS || r.name === UNEXPECTED_ERROR_ATTEMPT);
}

test('a classified unknown error is counted with its class and the attempt it met', async () => {
  const failure = toFailure(new TypeError('x is undefined')); // attempt 1 outside an activity
  expect(await failWith(failure, 4)).toEqual([
    { name: UNEXPECTED_ERRORS, value: 1, tags: { activity: 'fetchArchive', error: 'TypeError' } },
    { name: UNEXPECTED_ERROR_ATTEMPT, value: 1, tags: { activity: 'fetchArchive', error: 'TypeError' } },
  ]);
});

test('a raw unknown error is counted with the attempt from the activity context', async () => {
  const err = Object.assign(new Error('i/o error'), { code: 'EIO' });
  expect(await failWith(err, 3)).toEqual([
    { name: UNEXPECTED_ERRORS, value: 1, tags: { activity: 'fetchArchive', error: 'Error EIO' } },
    { name: UNEXPECTED_ERROR_ATTEMPT, value: 3, tags: { activity: 'fetchArchive', error: 'Error EIO' } },
  ]);
});

test('our own errors and cancellations are not unexpected', async () => {
  expect(await failWith(toFailure(new DecryptError('wrong passphrase')), 1)).toEqual([]);
  expect(await failWith(new DecryptError('wrong passphrase'), 1)).toEqual([]);
  expect(await failWith(ApplicationFailure.nonRetryable('x', 'Y'), 1)).toEqual([]);
  expect(await failWith(new CancelledFailure('cancelled'), 1)).toEqual([]);
});

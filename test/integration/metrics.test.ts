/**
 * A worker with metrics on serves Prometheus `/metrics` with the SDK's metrics and the pipeline's own,
 * whose values match a small batch (two books stored, one parked); and its structured log keeps the
 * activity metadata on the GRIN client's warnings. The Runtime is installed here, before the workers.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { createLogger } from '../../src/logging/logger';
import { installPipelineRuntime } from '../../src/worker';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';

jest.setTimeout(600_000);

let port: number;
const logLines: Record<string, unknown>[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as { port: number };
      server.close(() => resolve(p));
    });
  });
}

beforeAll(async () => {
  port = await freePort();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  expect(
    installPipelineRuntime({ logger: createLogger({ level: 'warn', format: 'json', stream }), metrics: { port, host: '127.0.0.1' } }),
  ).toBe(true);
});
// Registered after the hook above, so the workers start under that Runtime.
// The stall watch checks every second, so its gauges are there by the end of the batch.
const p = useSimulatedPipeline(
  'metrics',
  { books: 4, seed: 9, initialState: 'all-available', conversionDelaySeconds: 1, pages: { min: 2, max: 3 }, pageImageBytes: 64 * 1024 },
  { metrics: { stallCheckSeconds: 1 } },
);

/** `name{labels} value` lines of the exposition format, as [name, labels, value]. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(l)!;
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      return { name: m[1], labels, value: Number(m[3]) };
    });
}

function total(all: ReturnType<typeof samples>, name: string, labels: Record<string, string> = {}): number {
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

test('GET /metrics shows the SDK metrics and the pipeline counters of a small batch', async () => {
  const { sim, env } = p;
  const client = await temporalClient();
  const [ok, cut, damaged] = sim.barcodes.slice(0, 3);
  // One download is cut half-way once (the client resumes it and warns); one archive is not gzip (parked).
  sim.setFaults({ truncateBody: { barcodes: [cut], times: 1 }, notGzip: { barcodes: [damaged] } });
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
  const handle = await startBatch(client, env.config, [ok, cut, damaged], { batchId: 'metrics', settings });
  expect(await handle.result()).toMatchObject({ stored: 2, failed: 1 });
  sim.setFaults({ truncateBody: undefined, notGzip: undefined });

  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  const all = samples(await res.text());

  // The SDK's own worker metrics are there.
  expect(all.some((s) => s.name.startsWith('temporal_') && s.name.includes('activity'))).toBe(true);

  expect(total(all, 'grin_books_entered_total', { bucket: '07_stored' })).toBe(2);
  expect(total(all, 'grin_books_entered_total', { bucket: '06_processed' })).toBe(2);
  expect(total(all, 'grin_books_entered_total', { bucket: 'failed' })).toBe(1);
  expect(total(all, 'grin_books_entered_total', { bucket: '01_requested' })).toBe(3);
  expect(total(all, 'grin_books_parked_total', { reason: 'CorruptArchiveError' })).toBe(1);

  const board = await Board.open(env.config.pipelineDir);
  const stored = await Promise.all([ok, cut].map(async (b) => (await board.get(b))!));
  const encrypted = stored.reduce((n, t) => n + (t.encryptedBytes ?? 0), 0);
  const decrypted = stored.reduce((n, t) => n + (t.decryptedBytes ?? 0), 0);
  // The damaged book was downloaded twice (a fresh copy before parking): more than the stored books' bytes.
  expect(total(all, 'grin_bytes_total', { direction: 'downloaded' })).toBeGreaterThan(encrypted);
  // Uploads: the two archives plus their (small) derivatives.
  const uploaded = total(all, 'grin_bytes_total', { direction: 'uploaded' });
  expect(uploaded).toBeGreaterThan(decrypted);
  expect(uploaded).toBeLessThan(decrypted + 200_000);

  // Stage durations: one per stored book for the stages the parked book never finished.
  expect(total(all, 'grin_stage_duration_seconds_count', { stage: 'store' })).toBe(2);
  expect(total(all, 'grin_stage_duration_seconds_count', { stage: 'decrypt' })).toBe(2);
  const storeSum = total(all, 'grin_stage_duration_seconds_sum', { stage: 'store' });
  expect(storeSum).toBeGreaterThan(0);
  expect(storeSum).toBeLessThan(600);

  // GRIN answers by endpoint: conversion requests and archive GETs (one cut short); no HEAD before a
  // download (the GET answers 404 itself when a package is gone).
  expect(total(all, 'grin_http_responses_total', { endpoint: 'HEAD archive' })).toBe(0);
  expect(total(all, 'grin_http_responses_total', { endpoint: 'GET archive' })).toBeGreaterThanOrEqual(4);
  expect(total(all, 'grin_http_responses_total', { endpoint: 'GET _process' })).toBeGreaterThanOrEqual(1);

  // Every metric the Grafana dashboard (docs/) queries is one the worker serves.
  const dashboard = readFileSync(join(__dirname, '../../docs/grafana-dashboard.json'), 'utf8');
  const queried = new Set([...dashboard.matchAll(/\b((?:grin|temporal)_[a-z_]+)/g)].map((m) => m[1]));
  const served = new Set(all.map((s) => s.name));
  expect([...queried].filter((name) => !served.has(name))).toEqual([]);

  // The stall watch's gauges: present, and nothing stalled in a healthy batch; every metric the alerting rules use is served.
  expect(all.some((s) => s.name === 'grin_stalled_books')).toBe(true);
  expect(total(all, 'grin_stalled_books')).toBe(0);
  expect(total(all, 'grin_stalled_queue_seconds')).toBe(0);
  const rules = readFileSync(join(__dirname, '../../deploy/prometheus-rules.yml'), 'utf8');
  const alerted = new Set([...rules.matchAll(/\b(grin_[a-z_]+)/g)].map((m) => m[1]));
  expect(alerted.size).toBeGreaterThan(0);
  expect([...alerted].filter((name) => !served.has(name))).toEqual([]);

  // The GRIN client's warning about the cut download reached the log with the activity's metadata.
  const grinWarning = logLines.find((l) => l.component === 'grin' && l.barcode === cut);
  expect(grinWarning).toMatchObject({
    level: 'warn',
    activityType: 'fetchArchive',
    stage: 'download',
    workflowId: `grin/${sim.directory}/${cut}`,
  });
  expect(JSON.stringify(logLines)).not.toContain(sim.passphrase);
});

/**
 * How stalls are reported: the gauges a worker's stall watch sets (a recovered queue or bucket
 * goes back to 0), and the books `board` shows as stalled from its folders alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { Board } from '../../src/buckets/board';
import { boardOnlyStalls } from '../../src/cli/stalls';
import { loadConfig } from '../../src/config/load';
import type { QueueStall } from '../../src/liveness/stalls';
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics';

/** A meter that keeps each gauge's last value per label set. */
function recordingMeter(): { meter: MetricMeter; gauges: Map<string, Map<string, number>> } {
  const gauges = new Map<string, Map<string, number>>();
  const noop = {
    add: () => undefined,
    record: () => undefined,
    set: () => undefined,
    name: '',
    unit: undefined,
    description: undefined,
    kind: 'counter',
    valueType: 'int',
    withTags: () => noop,
  };
  const meter = {
    createCounter: () => noop,
    createHistogram: () => noop,
    createGauge: (name: string) => {
      const values = new Map<string, number>();
      gauges.set(name, values);
      const gauge = {
        set: (v: number, tags: MetricTags = {}) => values.set(JSON.stringify(tags), v),
        withTags: () => gauge,
        name,
        kind: 'gauge',
        valueType: 'int',
      };
      return gauge;
    },
    withTags: () => meter,
  } as unknown as MetricMeter;
  return { meter, gauges };
}

const stalled = (queue: string, seconds: number): QueueStall => ({
  queue,
  role: 'shared-file',
  kind: 'activity',
  backlog: 48,
  starvedMs: seconds * 1000,
});

test('stall gauges: set for what is stalled, back to 0 once it recovers', () => {
  const { meter, gauges } = recordingMeter();
  const metrics = new PipelineMetrics(meter);
  const q = (name: string) => JSON.stringify({ queue: name, role: 'shared-file', kind: 'activity' });
  metrics.stalls({
    queues: [stalled('files', 150)],
    books: [
      { barcode: 'B1', bucket: '04_decrypted', quietMs: 1, why: '' },
      { barcode: 'B2', bucket: '04_decrypted', quietMs: 1, why: '' },
    ],
  });
  expect(gauges.get('grin_stalled_queue_seconds')!.get(q('files'))).toBe(150);
  expect(gauges.get('grin_stalled_books')!.get(JSON.stringify({ bucket: '04_decrypted' }))).toBe(2);

  metrics.stalls({ queues: [stalled('files-host-b', 400)], books: [] });
  expect(gauges.get('grin_stalled_queue_seconds')!.get(q('files'))).toBe(0);
  expect(gauges.get('grin_stalled_queue_seconds')!.get(q('files-host-b'))).toBe(400);
  expect(gauges.get('grin_stalled_books')!.get(JSON.stringify({ bucket: '04_decrypted' }))).toBe(0);
  expect(gauges.get('grin_stalled_books')!.get(JSON.stringify({ bucket: 'any' }))).toBe(0);
});

describe('board-only stalls', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'stall-board-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('books held by a host with no token change past metrics.bookStallMinutes; waiting ones are not', async () => {
    const config = loadConfig({ env: {}, overrides: { pipelineDir: join(dir, 'pipeline'), metrics: { bookStallMinutes: 30 } } });
    const board = await Board.open(config.pipelineDir);
    for (const b of ['DEC1', 'WAIT2', 'HELD3', 'NEW4']) await board.create({ barcode: b, directory: 'D' });
    await board.move('DEC1', '04_decrypted', { status: 'decrypted' });
    await board.move('WAIT2', '02_converted', { status: 'ready to download' }); // waits for a host: back-pressure
    await board.move('HELD3', '02_converted', { status: 'downloading', fileQueue: 'files-host-a' }); // a host took it
    expect(await boardOnlyStalls(board, config, Date.now() + 10 * 60_000)).toEqual([]);
    const later = await boardOnlyStalls(board, config, Date.now() + 45 * 60_000);
    expect(later.map((s) => s.barcode).sort()).toEqual(['DEC1', 'HELD3']);
    expect(later.find((s) => s.barcode === 'DEC1')!.why).toMatch(
      /no token change for 45 min \(over 30 min in 04_decrypted\); status: decrypted/,
    );
  });
});

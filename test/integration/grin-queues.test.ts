/**
 * `start-batch --queue`: which books each queue selects, read from the simulator's listings through
 * the real GRIN client, and retried by the CLI's retry helper when a listing fails.
 */
import { readSelection } from '../../src/cli/batch';
import { barcodesInQueue } from '../../src/cli/grin-queues';
import type { PipelineConfig } from '../../src/config/types';
import { startSimulator } from '../../devkit/simulator';
import { clientFor } from './grin-client-helpers';

test('converted, unconverted and failed-at-grin select books by where GRIN has them', async () => {
  const sim = await startSimulator({
    barcodes: ['CONV0001', 'CONV0002', 'FAIL0001', 'QUEUED001', 'NEW000001', 'NEW000002'],
    initialState: 'all-new',
    initialStates: { CONV0001: 'CONVERTED', CONV0002: 'CONVERTED' },
    conversionDelaySeconds: 10,
    failConversion: ['FAIL0001'],
  });
  const client = clientFor(sim);
  try {
    // FAIL0001's conversion fails; QUEUED001 is requested later and is still in GRIN's queue.
    await client.requestConversion(['FAIL0001']);
    sim.advance(60);
    await client.requestConversion(['QUEUED001']);
    expect(await client.listInProcess()).toEqual(['QUEUED001']);

    const converted = await barcodesInQueue(client, 'converted');
    expect(converted.barcodes.sort()).toEqual(['CONV0001', 'CONV0002']);
    expect(converted.description).toContain('2 book(s)');
    expect((await barcodesInQueue(client, 'failed-at-grin')).barcodes).toEqual(['FAIL0001']);
    // Neither converted nor queued: the new books and the failed one (GRIN may be asked again).
    const unconverted = await barcodesInQueue(client, 'unconverted');
    expect(unconverted.barcodes.sort()).toEqual(['FAIL0001', 'NEW000001', 'NEW000002']);
    expect(unconverted.description).toMatch(/neither converted \(2\) nor in GRIN's queue \(1\)/);
  } finally {
    await client.close();
    await sim.close();
  }
});

test('start-batch --queue: a listing that fails transiently is read again by the CLI retry helper, which says so on its log', async () => {
  const sim = await startSimulator({
    barcodes: ['CONV0001', 'NEW000001'],
    initialState: 'all-new',
    initialStates: { CONV0001: 'CONVERTED' },
  });
  const client = clientFor(sim);
  try {
    sim.setFaults({ serverError: { times: 1 }, serverErrorStatus: 503 });
    const lines: string[] = [];
    const config = { grin: { directory: sim.directory } } as PipelineConfig;
    const selection = await readSelection(
      config,
      { queue: 'converted' },
      () => client,
      (line) => lines.push(line),
    );
    expect(selection.barcodes).toEqual(['CONV0001']);
    expect(lines[0]).toMatch(
      /^GRIN's converted queue: retrying in \d\.\d s \(GRIN GET \/\w+\/_converted, HTTP 503: unexpected HTTP status 503\); attempt 2 of 5$/,
    );
    expect(sim.requestLog.map((e) => e.status)).toEqual([503, 200]);
  } finally {
    await client.close();
    await sim.close();
  }
});

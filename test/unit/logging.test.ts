/** The pipeline's logger: JSON lines or pretty lines, levels, errors as data, secrets removed, per-stage files, and the SDK bridge. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { createLogger, type LoggerOptions } from '../../src/logging/logger';
import { contextualWarn, sdkLogger } from '../../src/logging/sdk';

const NOW = new Date('2026-01-10T12:00:01.123Z');

function capture(isTTY: boolean) {
  const lines: string[] = [];
  const stream = Object.assign(
    new Writable({
      write: (chunk: Buffer, _e, done) => {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
    { isTTY },
  );
  return { lines, stream };
}

function logger(isTTY: boolean, opts: LoggerOptions = {}) {
  const out = capture(isTTY);
  return { ...out, log: createLogger({ stream: out.stream, now: () => NOW, ...opts }) };
}

test('JSON lines when the output is not a terminal, with the metadata kept', () => {
  const { lines, log } = logger(false);
  log.child({ component: 'grin' }).warn('retrying', { barcode: 'B1', attempt: 2 });
  expect(JSON.parse(lines[0])).toEqual({
    time: NOW.toISOString(),
    level: 'warn',
    msg: 'retrying',
    component: 'grin',
    barcode: 'B1',
    attempt: 2,
  });
});

test('one readable line on a terminal, unless logging.format says json', () => {
  const tty = logger(true);
  tty.log.info('book stored', { barcode: 'B1', stage: 'store' });
  expect(tty.lines[0]).toBe('12:00:01.123 INFO  book stored  barcode=B1 stage=store');
  const forced = logger(true, { format: 'json' });
  forced.log.info('x');
  expect(JSON.parse(forced.lines[0]).msg).toBe('x');
  const pretty = logger(false, { format: 'pretty' });
  pretty.log.error('failed', { error: new Error('boom') });
  expect(pretty.lines[0]).toBe('12:00:01.123 ERROR failed — Error: boom');
});

test('entries below the level are dropped', () => {
  const { lines, log } = logger(false, { level: 'warn' });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['w', 'e']);
  expect(log.level).toBe('warn');
});

test('errors become data (type, nonRetryable, details, cause) and secret-named fields never appear', () => {
  const { lines, log } = logger(false);
  const cause = new Error('MDC check failed');
  const failure = ApplicationFailure.create({
    message: 'wrong passphrase',
    type: 'DecryptError',
    nonRetryable: true,
    details: [{ redownload: false }],
    cause,
  });
  log.error('Activity failed', {
    error: failure,
    passphrase: 'hunter2',
    config: { accessToken: 'tok', secretAccessKey: 'k', region: 'us' },
  });
  const entry = JSON.parse(lines[0]);
  expect(entry.error).toMatchObject({
    name: 'ApplicationFailure',
    message: 'wrong passphrase',
    type: 'DecryptError',
    nonRetryable: true,
    details: [{ redownload: false }],
    cause: { message: 'MDC check failed' },
  });
  expect(entry.passphrase).toBe('[redacted]');
  expect(entry.config).toEqual({ accessToken: '[redacted]', secretAccessKey: '[redacted]', region: 'us' });
  expect(lines[0]).not.toMatch(/hunter2|"tok"|"k"/);
});

test('per-stage files: entries naming a stage are appended to logs/<stage>.log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grin-logs-'));
  try {
    const { log } = logger(false, { perStageDir: join(dir, 'logs') });
    log.warn('slow', { stage: 'download', barcode: 'B1' });
    log.warn('slow again', { stage: 'download', barcode: 'B2' });
    log.info('no stage');
    await new Promise((r) => setTimeout(r, 100)); // the file stream writes asynchronously
    const lines = readFileSync(join(dir, 'logs', 'download.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.barcode)).toEqual(['B1', 'B2']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the SDK bridge keeps the SDK metadata, adds the barcode and stage, and drops expected noise', () => {
  const { lines, log } = logger(false, { level: 'info' });
  const sdk = sdkLogger(log);
  sdk.warn('Activity failed', {
    workflowId: 'grin/PRNC/32044000000001',
    activityType: 'decryptArchive',
    attempt: 3,
    error: ApplicationFailure.retryable('disk hiccup', 'LocalFileError'),
  });
  sdk.debug('Activity started', { activityType: 'uploadBook' }); // below info
  sdk.info('No workflows registered, not polling for workflow tasks');
  sdk.warn('Activity failed', { error: ApplicationFailure.create({ message: 'S3 down', details: [{ waitingFor: 'storage' }] }) });
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0])).toMatchObject({
    level: 'warn',
    msg: 'Activity failed',
    barcode: '32044000000001',
    stage: 'decrypt',
    activityType: 'decryptArchive',
    attempt: 3,
    error: { type: 'LocalFileError' },
  });
});

test('at info: no webpack bundle listing and no warning with a stack for a permanent failure (the park says it); at debug both are there', () => {
  const webpackStats =
    'asset workflow-bundle-1a2b.js 1.3 MiB [emitted] (name: main)\nruntime modules 937 bytes 4 modules\nwebpack 5.94.0 compiled successfully in 2113 ms';
  const parkCause = {
    workflowId: 'grin/PRNC/32044000000001',
    activityType: 'decryptArchive',
    error: ApplicationFailure.nonRetryable('wrong passphrase', 'DecryptError'),
  };
  const atInfo = logger(false, { level: 'info' });
  const sdk = sdkLogger(atInfo.log);
  sdk.info(webpackStats);
  sdk.info('Workflow bundle created', { size: '1.3MB' });
  sdk.warn('Activity failed', parkCause);
  expect(atInfo.lines.map((l) => JSON.parse(l).msg)).toEqual(['Workflow bundle created']);
  const atDebug = logger(false, { level: 'debug' });
  const verbose = sdkLogger(atDebug.log);
  verbose.info(webpackStats);
  verbose.warn('Activity failed', parkCause);
  expect(atDebug.lines.map((l) => [JSON.parse(l).level, JSON.parse(l).msg])).toEqual([
    ['debug', webpackStats],
    ['debug', 'Activity failed'],
  ]);
});

test("outside an activity, a shared client's warning goes straight to the logger", () => {
  const { lines, log } = logger(false);
  contextualWarn(log, { component: 'grin' }).warn('_converted: page 3 says unavailable');
  expect(JSON.parse(lines[0])).toMatchObject({ level: 'warn', component: 'grin', msg: '_converted: page 3 says unavailable' });
});

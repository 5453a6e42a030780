/**
 * The pipeline's log: one entry per event with its metadata (barcode, stage, workflowId,
 * activityType, error details). JSON lines when the output is not a terminal (or
 * `logging.format: json`), so a log shipper can index them; one readable line on a terminal.
 * Hand-written on purpose: a few dozen lines, no dependency (README, Dependencies).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../common/file-modes';
import { scrubDeep } from '../common/secret-values';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'auto' | 'json' | 'pretty';
export type LogMeta = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface Logger {
  readonly level: LogLevel;
  log(level: LogLevel, message: string, meta?: LogMeta): void;
  debug(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  error(message: string, meta?: LogMeta): void;
  /** A logger that adds `meta` to every entry (e.g. `{ component: 'grin' }`). */
  child(meta: LogMeta): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; default standard error (standard output stays for command output). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Also append each entry that names a stage to `<dir>/<stage>.log` (JSON lines). */
  perStageDir?: string;
  now?: () => Date;
}

/** Keys whose values never reach a log, whatever logs them. */
const SECRET_KEY = /passphrase|password|secret|token$|accesstoken|refreshtoken|accesskey|authorization|credential/i;

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const json = opts.format === 'json' || (opts.format !== 'pretty' && !stream.isTTY);
  const now = opts.now ?? (() => new Date());
  const files = opts.perStageDir ? new StageFiles(opts.perStageDir) : undefined;
  const min = LOG_LEVELS.indexOf(opts.level ?? 'info');

  const make = (bound: LogMeta): Logger => {
    const log = (level: LogLevel, message: string, meta?: LogMeta) => {
      if (LOG_LEVELS.indexOf(level) < min) return;
      const entry = logEntry(now(), level, message, { ...bound, ...meta });
      stream.write((json ? JSON.stringify(entry) : prettyLine(entry)) + '\n');
      if (files && typeof entry.stage === 'string') files.write(entry.stage, JSON.stringify(entry));
    };
    return {
      level: LOG_LEVELS[min],
      log,
      debug: (m, meta) => log('debug', m, meta),
      info: (m, meta) => log('info', m, meta),
      warn: (m, meta) => log('warn', m, meta),
      error: (m, meta) => log('error', m, meta),
      child: (meta) => make({ ...bound, ...meta }),
    };
  };
  return make({});
}

/**
 * The entry as written: time, level, message, then the metadata made JSON-safe (errors spelled out,
 * secrets removed: fields named like secrets, and every registered secret value wherever it appears).
 */
export function logEntry(time: Date, level: LogLevel, message: string, meta: LogMeta): Record<string, unknown> {
  const entry: Record<string, unknown> = { time: time.toISOString(), level, msg: message };
  for (const [key, value] of Object.entries(meta)) {
    if (value === undefined) continue;
    entry[key] = SECRET_KEY.test(key) ? '[redacted]' : plain(value, 0);
  }
  return scrubDeep(entry);
}

/** An error as data: name, message, failure type and details, cause; the stack's first lines. */
export function errorFields(err: Error, depth = 0): Record<string, unknown> {
  const e = err as Error & { type?: unknown; nonRetryable?: unknown; details?: unknown; cause?: unknown; code?: unknown };
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  if (typeof e.type === 'string') out.type = e.type;
  if (typeof e.nonRetryable === 'boolean') out.nonRetryable = e.nonRetryable;
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  if (Array.isArray(e.details) && e.details.length) out.details = plain(e.details, depth + 1);
  if (e.stack) out.stack = e.stack.split('\n').slice(0, 6).join('\n');
  if (e.cause instanceof Error && depth < 3) out.cause = errorFields(e.cause, depth + 1);
  return out;
}

function plain(value: unknown, depth: number): unknown {
  if (value instanceof Error) return errorFields(value, depth);
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? value.toString() : value;
  if (depth > 4) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => plain(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) out[k] = SECRET_KEY.test(k) ? '[redacted]' : plain(v, depth + 1);
  }
  return out;
}

/** `12:00:01.123 WARN  message  barcode=… stage=… workflowId=…`, the error's message last. */
export function prettyLine(entry: Record<string, unknown>): string {
  const { time, level, msg, error, ...rest } = entry;
  const fields = Object.entries(rest)
    .filter(([k]) => !['sdkComponent', 'namespace', 'runId', 'taskToken', 'activityId', 'isLocal', 'workflowType'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const err =
    error && typeof error === 'object'
      ? ` — ${String((error as { name?: unknown }).name)}: ${String((error as { message?: unknown }).message)}`
      : '';
  return `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${String(msg)}${fields.length ? `  ${fields.join(' ')}` : ''}${err}`;
}

/** `logs/<stage>.log` files, opened on first use and kept open (append); readable by the owner only. */
class StageFiles {
  private readonly open = new Map<string, WriteStream>();
  constructor(private readonly dir: string) {}

  write(stage: string, line: string): void {
    const name = stage.replace(/[^A-Za-z0-9_-]/g, '_');
    let stream = this.open.get(name);
    if (!stream) {
      mkdirSync(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      stream = createWriteStream(join(this.dir, `${name}.log`), { flags: 'a', mode: PRIVATE_FILE_MODE });
      stream.on('error', () => undefined); // a full disk must not take the worker down with it
      this.open.set(name, stream);
    }
    stream.write(line + '\n');
  }
}

/**
 * Shared plumbing for the CLI commands: config loading, the Temporal client, and turning errors into
 * a message plus an exit code (EXIT in exit-codes.ts).
 */
import { CommanderError, InvalidArgumentError } from 'commander';
import { PipelineError } from '../common/errors';
import { EXIT } from './exit-codes';
// Temporal's client is loaded by the commands that talk to Temporal, not at start-up: it is most of
// the CLI's start-up time, and `board`, `report` or `unpack` do not need it.
import type { Client } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CONFIG_FILE_ENV, loadConfig } from '../config/load';
import { registerSearchAttributes, SearchAttributesMissingError } from '../search-attribute-registration';
import { registerConfiguredSecrets } from '../config/secrets';
import type { PipelineConfig } from '../config/types';

export interface GlobalOptions {
  config?: string;
}

/**
 * The config a command runs with: `-c FILE`, else `$GRIN_PIPELINE_CONFIG`. Without either, a command
 * refuses (exit 2) rather than run on built-in defaults, which would read and create a board in
 * ./data/pipeline that is nobody's; `unpack`, which needs no board, passes `{ required: false }`.
 */
export function configFrom(opts: GlobalOptions, overrides?: object, { required = true }: { required?: boolean } = {}): PipelineConfig {
  if (required && !opts.config && !process.env[CONFIG_FILE_ENV]) throw new UsageError(noConfigMessage());
  const config = loadConfig({ file: opts.config, overrides });
  // Known by value before anything is printed: status and reports quote what Temporal recorded.
  registerConfiguredSecrets(config);
  return config;
}

/** Where the CLI looked for a config, and where one might be (the demo writes `.demo/config.yaml`). */
export function noConfigMessage(cwd = process.cwd()): string {
  const demo = join(cwd, DEMO_CONFIG_FILE);
  const hint = existsSync(demo) ? `the demo's is ${relative(cwd, demo)}` : 'config.example.yaml is a commented start';
  return `no config: no -c FILE given and $${CONFIG_FILE_ENV} is not set; give the pipeline's config with -c config.yaml (${hint}). Nothing was read or created.`;
}

/** The config file `npm run demo` writes, relative to its --data folder's parent (the project folder). */
export const DEMO_CONFIG_FILE = join('.demo', 'config.yaml');

/** A Temporal client for the configured namespace, over the connection `temporal.*` describes (TLS, API key). */
export async function connectClient(config: PipelineConfig): Promise<Client> {
  const [{ Client }, { connectTemporal }] = await Promise.all([import('@temporalio/client'), import('../temporal-connection')]);
  const connection = await connectTemporal(config.temporal);
  return new Client({ connection, namespace: config.temporal.namespace });
}

/**
 * Registers the pipeline's search attributes (GrinBarcode, GrinStage, ...) on the cluster when they
 * are missing, so starting books never fails on a fresh server. Servers that refuse (no operator
 * permission) get a message saying what to register by hand.
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<void> {
  try {
    await registerSearchAttributes(client.connection.operatorService, namespace);
  } catch (err) {
    if (err instanceof SearchAttributesMissingError) throw new UsageError(err.message, 1);
    throw err;
  }
}

/** Where the tests and older callers find it; it lives beside the workflows' contracts. */
export { bookSettingsFrom } from '../workflows/book-settings';

/** A commander option parser for a whole number of at least 1, named in its error. */
export const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1.`);
  return n;
};

/** An error the user can fix: printed without a stack trace. */
export class UsageError extends PipelineError {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message, { retryable: false });
  }
}

/** Node's errors for a path the user gave that cannot be used: bad input, not a bug. */
const FILE_ERROR_WORDS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EEXIST: 'it already exists',
  ENAMETOOLONG: 'the name is too long',
};

/** "cannot open /x/y.csv: no such file or folder; check the path" from Node's ENOENT error. */
export function fileErrorMessage(err: NodeJS.ErrnoException): string {
  const what = err.code ? (FILE_ERROR_WORDS[err.code] ?? err.code) : err.message;
  return `cannot ${err.syscall ?? 'use'} ${err.path}: ${what}; check the path and its permissions`;
}

/**
 * The exit code an error ends the CLI with (see EXIT): its own `exitCode` (2 for bad input), 2 for
 * commander's usage errors and for a file the user named that cannot be used, else 1.
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  const e = err as { exitCode?: unknown; code?: unknown; path?: unknown };
  if (typeof e?.exitCode === 'number') return e.exitCode;
  if (typeof e?.code === 'string' && Object.hasOwn(FILE_ERROR_WORDS, e.code) && typeof e.path === 'string') return EXIT.badInput;
  return EXIT.failed;
}

/**
 * Our own errors (PipelineError) already say what failed and what to do, and Node's file errors name
 * the file: the message only (a config error lists its issues one per line). Anything else is a
 * bug: the stack helps. Commander has already printed its usage errors (and --help its text).
 */
export function reportAndExit(err: unknown): never {
  const code = exitCodeOf(err);
  if (!(err instanceof CommanderError)) {
    const e = err as { exitCode?: number; message?: string; stack?: string };
    const expected = err instanceof PipelineError || e?.exitCode !== undefined;
    const message = expected
      ? (e.message ?? String(err))
      : code === EXIT.badInput
        ? fileErrorMessage(err as NodeJS.ErrnoException)
        : (e?.stack ?? String(err));
    process.stderr.write(`error: ${message}\n`);
  }
  process.exit(code);
}

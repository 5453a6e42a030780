/**
 * What the CLI's commands share, each part opened on first use and once per run: the config (`-c`),
 * the board, the Temporal client and the GRIN client. A command asks for what it needs, so `board`
 * or `--help` never loads Temporal's client; `close()` ends what was opened when the command is done.
 */
import type { Client } from '@temporalio/client';
import { Board } from '../buckets/board';
import type { PipelineConfig } from '../config/types';
import type { GrinClient } from '../grin/client';
import { createLogger } from '../logging/logger';
import { configFrom, connectClient, type GlobalOptions } from './common';

export interface CliContext {
  /** The config from `-c` or `$GRIN_PIPELINE_CONFIG`; `{ required: false }` lets a command run on built-in defaults. */
  config(opts?: { required?: boolean }): PipelineConfig;
  board(): Promise<Board>;
  temporal(): Promise<Client>;
  /** One attempt per call: a command wraps its GRIN steps in `retrying` (cli/retry.ts), its one retry layer. */
  grin(): Promise<GrinClient>;
  /** Closes the Temporal connection if one was opened. */
  close(): Promise<void>;
}

/** Each part once: the first call opens it, later calls get the same one (or the same failure). */
function once<T>(open: () => T): () => T {
  let opened: { value: T } | undefined;
  return () => (opened ??= { value: open() }).value;
}

export function createCliContext(globals: () => GlobalOptions): CliContext {
  let config: PipelineConfig | undefined;
  const configOf = (opts?: { required?: boolean }) => (config ??= configFrom(globals(), undefined, opts));
  const board = once(() => Board.open(configOf().pipelineDir));
  const temporal = once(() => connectClient(configOf()));
  let temporalOpened = false;
  const grin = once(async () => {
    const current = configOf();
    const { grinClientFrom } = await import('../service-clients');
    const logger = createLogger({ level: current.logging.level, format: current.logging.format }).child({ component: 'grin' });
    return grinClientFrom(current, { logger });
  });
  return {
    config: configOf,
    board,
    temporal() {
      temporalOpened = true;
      return temporal();
    },
    grin,
    async close() {
      if (!temporalOpened) return;
      // A connection that never opened has nothing to close; its failure was the command's to report.
      const client = await temporal().catch(() => undefined);
      await client?.connection.close().catch(() => undefined);
    },
  };
}

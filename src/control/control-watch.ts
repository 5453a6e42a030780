/**
 * The worker's side of the operator's controls: re-reads `meta/operator-control.json` on the board
 * every few seconds and applies it to this host's GRIN gate (pause, rate) and download admission
 * (pause, downloads in flight), so `grin-pipeline pause`/`unpause`/`throttle` act on running
 * workers. A change is logged once; a file that cannot be read keeps the last controls in force.
 */
import type { HostBooks } from '../activities/host-books';
import type { PipelineConfig } from '../config/types';
import type { Logger } from '../logging/logger';
import type { GrinGate } from './grin-gate';
import { NO_CONTROL, pauseLines, readOperatorControl, throttleLine, type OperatorControl } from './operator-control';

export interface ControlWatchOptions {
  config: PipelineConfig;
  gate: GrinGate;
  hostBooks: HostBooks;
  logger: Logger;
  /** Default 5 s. */
  intervalMs?: number;
}

export interface ControlWatch {
  /** The controls last read (NO_CONTROL before the first read). */
  current(): OperatorControl;
  /** Reads the file now and applies it (also done at start). */
  check(): Promise<void>;
  stop(): void;
}

/** Applies controls to one host: the operator's figures never exceed the config's. */
export function applyOperatorControl(control: OperatorControl, config: PipelineConfig, gate: GrinGate, hostBooks: HostBooks): void {
  const rate = control.throttle.grinRatePerSecond;
  gate.set({ paused: !!control.pause.grin, ratePerSecond: rate !== undefined && rate < config.grin.rateLimitPerSecond ? rate : undefined });
  hostBooks.setOperatorControls({ paused: !!control.pause.downloads, maxDownloads: control.throttle.downloadsPerHost });
}

export function startControlWatch(opts: ControlWatchOptions): ControlWatch {
  let said = describe(NO_CONTROL);
  let current: OperatorControl = NO_CONTROL;
  let failing = false;
  let checking: Promise<void> | undefined;
  const check = () =>
    (checking ??= (async () => {
      try {
        const control = await readOperatorControl(opts.config.pipelineDir);
        applyOperatorControl(control, opts.config, opts.gate, opts.hostBooks);
        current = control;
        failing = false;
        const now = describe(control);
        if (now !== said)
          opts.logger.info(now || "operator controls lifted: no pause, the config's rates", { component: 'operator-control' });
        said = now;
      } catch (err) {
        if (!failing)
          opts.logger.warn(
            `operator controls not read (the last ones stay in force): ${err instanceof Error ? err.message : String(err)}`,
            { component: 'operator-control' },
          );
        failing = true;
      } finally {
        checking = undefined;
      }
    })());
  void check();
  const timer = setInterval(() => void check(), opts.intervalMs ?? 5000);
  timer.unref();
  return { current: () => current, check, stop: () => clearInterval(timer) };
}

function describe(control: OperatorControl): string {
  return [...pauseLines(control), throttleLine(control) ?? ''].filter(Boolean).join('; ');
}

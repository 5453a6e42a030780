/**
 * `grin-pipeline pause` / `unpause`: hold back GRIN requests, downloads, or both, on every host,
 * while the workers keep running (src/control). Books keep their place: nothing fails, no retry is
 * spent, and `unpause` lets them go on. Not `resume`, which starts unfinished books from the board.
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  pauseLines,
  PAUSE_TARGETS,
  throttleLine,
  updateOperatorControl,
  type OperatorControl,
  type PauseTarget,
} from '../control/operator-control';
import { UsageError } from './common';
import type { CliContext } from './context';

interface PauseFlags {
  grin?: boolean;
  downloads?: boolean;
  all?: boolean;
  json?: boolean;
}

function targetsOf(opts: PauseFlags): PauseTarget[] {
  const picked = PAUSE_TARGETS.filter((t) => opts[t]);
  return opts.all || picked.length === 0 ? [...PAUSE_TARGETS] : picked;
}

/** The board must exist: a pause written beside no board would hold back nothing, silently. */
export async function existingBoard(pipelineDir: string): Promise<void> {
  const found = await stat(pipelineDir).catch(() => undefined);
  if (!found?.isDirectory()) throw new UsageError(`no board at ${pipelineDir}: check -c (the config naming the board the workers use).`);
}

/** What is in force, as the CLI prints it (also used by `throttle`). */
export function controlSummary(control: OperatorControl): string[] {
  const lines = [...pauseLines(control), throttleLine(control) ?? ''].filter(Boolean);
  return lines.length ? lines : ["nothing paused or throttled: GRIN requests and downloads run at the config's rates"];
}

export function printControl(control: OperatorControl, json: boolean | undefined, note: string): void {
  if (json) process.stdout.write(JSON.stringify(control, null, 2) + '\n');
  else process.stdout.write([...controlSummary(control), note].join('\n') + '\n');
}

const NOTE = 'every worker reads this within a few seconds (no restart); `grin-pipeline board` and `status` show it';

export function register(program: Command, context: CliContext): void {
  const pauseOptions = (cmd: Command) =>
    cmd
      .option('--grin', 'GRIN requests: conversion requests, listings and archive checks (books before 02_converted wait)')
      .option('--downloads', 'downloads: no host takes a new book (books in 02_converted wait; running downloads finish)')
      .option('--all', 'both (the default)')
      .option('--json', 'print the controls now in force as JSON (docs/cli.md)');
  pauseOptions(
    program
      .command('pause')
      .description(
        'Hold back GRIN requests and/or downloads on every host while the workers keep running; books wait in place ' +
          '(nothing fails, no retry is spent). `unpause` lets them go on. (Not the opposite of `resume`, which starts ' +
          'unfinished books from the board when they have no workflow.)',
      ),
  ).action(async (opts: PauseFlags) => {
    const config = context.config();
    await existingBoard(config.pipelineDir);
    const since = new Date().toISOString();
    const control = await updateOperatorControl(config.pipelineDir, (c) => {
      // A second pause keeps the first one's time: "since" is when the wait began.
      for (const t of targetsOf(opts)) c.pause[t] ??= { since };
      return c;
    });
    printControl(control, opts.json, NOTE);
  });
  pauseOptions(
    program
      .command('unpause')
      .description(
        'End a pause made by `pause` (all of it by default): held-back GRIN requests and downloads go on. Workers keep running throughout.',
      ),
  ).action(async (opts: PauseFlags) => {
    const config = context.config();
    await existingBoard(config.pipelineDir);
    const control = await updateOperatorControl(config.pipelineDir, (c) => {
      for (const t of targetsOf(opts)) delete c.pause[t];
      return c;
    });
    printControl(control, opts.json, NOTE);
  });
}

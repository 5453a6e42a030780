/**
 * Runs the `grin-pipeline` CLI in-process, as a user would type it, and collects what it prints and
 * the exit code it would end with (0, a UsageError's code, or process.exitCode set by the command).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { buildProgram } from '../../src/client';
import { exitCodeOf } from '../../src/cli/common';
import type { PipelineConfig } from '../../src/config/types';

export interface CliRun {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** The error the command ended with, if any (its message is what the user sees after "error: "). */
  error?: Error & { exitCode?: number };
}

export async function runCli(args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const savedExitCode = process.exitCode;
  process.exitCode = undefined;
  try {
    const program = buildProgram();
    // Settings given after the commands exist are not inherited: set them on every command.
    const quiet = (command: Command): void => {
      command.exitOverride().configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
      command.commands.forEach(quiet);
    };
    quiet(program);
    await program.parseAsync(['node', 'grin-pipeline', ...args]);
    return { stdout, stderr, exitCode: Number(process.exitCode ?? 0) };
  } catch (error) {
    const e = error as Error & { exitCode?: number };
    return { stdout, stderr, exitCode: exitCodeOf(e), error: e };
  } finally {
    process.exitCode = savedExitCode;
    out.mockRestore();
    err.mockRestore();
  }
}

/** Writes a resolved config as a YAML file the CLI's `-c` can read. */
export function writeConfigFile(dir: string, config: PipelineConfig, name = 'config.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, YAML.stringify(config));
  return file;
}

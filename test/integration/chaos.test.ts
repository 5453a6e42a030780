/**
 * The short form of `npm run chaos`: a small batch through real processes (Temporal dev server with
 * a db file, moto S3 behind a proxy, the simulator, two worker processes) with worker kills, a
 * Temporal restart, an S3 outage, a full disk, revoked credentials and GRIN faults, then every check
 * of the harness. The harness runs compiled, as `npm run chaos` does, so it is built first (into
 * tmp/, not dist/). No timing is asserted: the harness has its own generous deadline.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATIENCE_MS, TEST_PATIENCE_MS } from '../support/wait';

const repo = join(__dirname, '..', '..');
const build = join(repo, 'tmp', 'chaos-test-build');
const output = join(repo, 'tmp', 'chaos-test.log');

function run(command: string, args: string[], logFile?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', reject);
    child.once('close', (code) => {
      if (logFile) writeFileSync(logFile, Buffer.concat(chunks));
      else if (code !== 0) process.stderr.write(Buffer.concat(chunks));
      resolve(code ?? 1);
    });
  });
}

describe('npm run chaos, short form', () => {
  beforeAll(async () => {
    rmSync(build, { recursive: true, force: true });
    mkdirSync(build, { recursive: true });
    expect(await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', build])).toBe(0);
  }, PATIENCE_MS);
  afterAll(() => rmSync(build, { recursive: true, force: true }));

  it(
    'stores every good book once and intact, parks every bad one with its reason, leaves nothing behind and leaks no secret',
    async () => {
      const args = [
        '--books',
        '20',
        '--kills',
        '3',
        '--s3-outage',
        '20',
        '--disk-full',
        '15',
        '--revoke',
        '15',
        '--retry-max',
        '5',
        '--seed',
        '7',
        '--deadline',
        '30',
      ];
      const code = await run(process.execPath, [join(build, 'bench', 'chaos.js'), ...args], output);
      const text = readFileSync(output, 'utf8');
      const failures = text
        .split('\n')
        .filter((line, i, all) => line.startsWith('FAIL') || (i > 0 && all[i - 1].startsWith('FAIL') && line.startsWith('        ')));
      // The FAIL lines name the book, bucket and reason; the whole run is in tmp/chaos-test.log.
      expect(failures).toEqual([]);
      expect(text.trim().split('\n').at(-1)).toMatch(/^chaos: (\d+)\/\1 checks passed/);
      expect(code).toBe(0);
    },
    TEST_PATIENCE_MS,
  );
});

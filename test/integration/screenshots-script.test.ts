/**
 * scripts/screenshots.sh end to end, as the README's pictures are made: a demo with a parked book,
 * the view "Parked books" with the reason column, the parked book's and the batch's metadata. The
 * script fails (exit 1, naming the text) when a page never shows what it waits for, among them
 * "GrinParkReason" and a reason text in the list. Skipped, with the reason printed, where Chromium
 * is not installed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, describeWithChromium } from '../support/chromium';

jest.setTimeout(1_500_000);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: join(__dirname, '..', '..'), env });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describeWithChromium('scripts/screenshots.sh', () => {
  test('takes the three pictures of a demo with a parked book, the list showing why it is parked', async () => {
    const out = mkdtempSync(join(tmpdir(), 'screenshots-test-'));
    try {
      const r = await run('bash', ['scripts/screenshots.sh', '--out', out, '--sample', '3', '--park', '1', '--size', '1200x800'], {
        ...process.env,
        CHROMIUM: chromium,
      });
      expect({ code: r.code, output: r.code === 0 ? '' : r.output }).toEqual({ code: 0, output: '' });
      for (const file of ['failed-list.png', 'parked-book.png', 'batch.png']) {
        const png = readFileSync(join(out, file));
        expect(png.subarray(1, 4).toString()).toBe('PNG');
        expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1200, 800]);
      }
      expect(r.output).toMatch(/failed-list\.png <- .*savedQuery=Parked%20books/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

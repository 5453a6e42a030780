/**
 * From the demo to the CLI (issue 24): the demo writes its config and prints the commands to look
 * around with it, and those commands work on the demo's board; a port another program holds ends
 * the demo with one line naming the cause from the server's log, not a stack trace.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runDemo } from '../../devkit/demo';
import { freePort } from '../../devkit/devtools/servers';
import { runCli } from '../support/cli';

jest.setTimeout(600_000);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'grin-cli-demo-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function captureStderr<T>(fn: () => Promise<T>): Promise<{ result?: T; error?: Error & { exitCode?: number }; stderr: string }> {
  let stderr = '';
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { result: await fn(), stderr };
  } catch (error) {
    return { error: error as Error & { exitCode?: number }, stderr };
  } finally {
    spy.mockRestore();
  }
}

test('a Web UI port held by another program: one line with "address already in use", exit 1, no stack', async () => {
  const holder: Server = createServer();
  const held = await freePort();
  await new Promise<void>((done) => holder.listen(held, '127.0.0.1', done));
  try {
    const port = await freePort();
    const run = await captureStderr(() => runDemo({ sample: 1, park: 0, data: join(dir, 'busy'), port, uiPort: held }));
    expect(run.error).toBeDefined();
    expect(run.error!.exitCode).toBe(1);
    expect(run.error!.message).toMatch(
      new RegExp(`^the Temporal dev server did not start: (\\S+:${held}: )?address already in use; another program holds the port`),
    );
    expect(run.error!.message).not.toContain('\n');
    expect(run.error!.message).not.toMatch(/\bat \w+ \(/);
  } finally {
    holder.close();
  }
});

test('the demo writes <data>/config.yaml and prints board, status and report commands that work on its board', async () => {
  const data = join(dir, 'demo');
  const [port, uiPort] = [await freePort(), await freePort()];
  const run = await captureStderr(() => runDemo({ sample: 2, park: 0, data, port, uiPort }));
  expect(run.error).toBeUndefined();
  expect(run.result).toBe(0);
  const configFile = join(data, 'config.yaml');
  const shown = relative(process.cwd(), configFile);
  expect(run.stderr).toContain(`the demo's config for the CLI: ${shown} (rewritten each run). Look around with:`);
  const commands = run.stderr.split('\n').filter((l) => l.startsWith('  npx grin-pipeline -c '));
  expect(commands.map((l) => l.trim().split(/\s+/)[4])).toEqual(['board', 'status', 'report']);
  // Secrets by reference only.
  const text = readFileSync(configFile, 'utf8');
  expect(text).toContain('file:');
  expect(text).not.toContain('demo gpg passphrase');

  // The commands as printed (after `npx grin-pipeline`), run against the demo's board.
  const args = (line: string) => line.trim().split('#')[0].trim().split(/\s+/).slice(2);
  const board = await runCli([...args(commands[0]), '--json']);
  expect(board.exitCode).toBe(0);
  expect(JSON.parse(board.stdout)).toMatchObject({ '07_stored': 2 });
  // The demo's Temporal server stopped with it: status shows the token and exits 1, as documented.
  const status = await runCli(args(commands[1]));
  expect(status.stdout).toContain('bucket      07_stored');
  expect(status.exitCode).toBe(1);
  const reportArgs = args(commands[2]).map((a) => (a === 'demo.csv' ? join(dir, 'demo.csv') : a));
  const report = await runCli(reportArgs);
  expect(report.exitCode).toBe(0);
  expect(readFileSync(join(dir, 'demo.csv'), 'utf8').split('\r\n').filter(Boolean)).toHaveLength(3);
});

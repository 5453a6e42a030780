/**
 * page-screenshot (used by scripts/screenshots.sh for the README's Web UI pictures): waits until a
 * page drawn by script shows the texts asked for, including text inside an iframe as the Temporal Web
 * UI renders workflow details, then writes a PNG of the window size; a text that never shows fails
 * with its name, and the PNG of what was shown is still written; local-storage entries asked for are
 * there before the page's scripts run. Skipped, with the reason printed, where Chromium is not
 * installed (it is a Debian package, not an npm one).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { screenshotPage } from '../../devkit/devtools/page-screenshot';
import { chromium, describeWithChromium } from '../support/chromium';

// Text drawn late by script, and more inside a srcdoc iframe.
const PAGE = `<!doctype html><body><div id="main">loading</div><script>
setTimeout(() => {
  document.getElementById('main').textContent = 'drawn   by\\n script; seed: ' + localStorage.getItem('seed');
  const f = document.createElement('iframe');
  f.setAttribute('srcdoc', '<p>inside <b>the</b> frame</p>');
  document.body.appendChild(f);
}, 700);
</script></body>`;

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  expect(b.subarray(1, 4).toString()).toBe('PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describeWithChromium('page-screenshot', () => {
  let server: Server;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'page-screenshot-test-'));
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test('waits for texts drawn late, in the page and in an iframe, and writes a PNG of the window size', async () => {
    const out = join(dir, 'ok.png');
    await screenshotPage({ url, out, waitFor: ['drawn by script', 'inside the frame'], width: 640, height: 400, chromium, settleMs: 100 });
    expect(pngSize(out)).toEqual({ width: 640, height: 400 });
  });

  test('a text that never shows fails with its name, and what was shown is still written', async () => {
    const out = join(dir, 'missing.png');
    await expect(
      screenshotPage({ url, out, waitFor: ['drawn by script', 'never there'], width: 320, height: 200, chromium, timeoutMs: 4000 }),
    ).rejects.toThrow(/did not show "never there" within 4s/);
    expect(pngSize(out)).toEqual({ width: 320, height: 200 });
  });

  test('local-storage entries are set before the page runs, and the text shown is returned', async () => {
    const out = join(dir, 'seeded.png');
    const text = await screenshotPage({
      url,
      out,
      waitFor: ['inside the frame'],
      localStorage: { seed: 'planted before load' },
      width: 320,
      height: 200,
      chromium,
      settleMs: 100,
    });
    expect(text).toContain('drawn by script; seed: planted before load');
  });
});

#!/usr/bin/env node
/**
 * `node dist/devkit/devtools/page-screenshot.js --url URL --out FILE.png [--wait-for TEXT]...`: a PNG of a
 * web page as headless Chromium renders it, taken once the page shows the given texts. For the README's
 * Web UI screenshots (scripts/screenshots.sh). Chromium's own `--screenshot` is not enough for the
 * Temporal Web UI: its `--virtual-time-budget` never runs out on a running workflow's page (the UI
 * long-polls the history), and without it the single-page app is captured before it has drawn anything.
 * So this drives Chromium over its DevTools protocol (undici's WebSocket; no browser package needed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { WebSocket } from 'undici';

export interface ScreenshotOptions {
  url: string;
  out: string;
  /** Texts the page must show (all of them, whitespace folded to one space) before it is captured. */
  waitFor?: string[];
  width?: number;
  height?: number;
  /** How long to wait for the texts (ms). */
  timeoutMs?: number;
  /** Extra time after the texts appear, for late layout (ms). */
  settleMs?: number;
  chromium?: string;
  /**
   * Local-storage entries (key → text) set on every page before its own scripts run, e.g. the Web UI's
   * list columns (web-ui-list.ts); a page whose origin has no local storage (about:blank) is skipped.
   */
  localStorage?: Record<string, string>;
}

/**
 * Which wanted texts the page does not show yet. The Web UI renders workflow summaries and details
 * (markdown) in iframes, so their text is read too where the frame lets us (same origin or srcdoc).
 */
const PAGE_TEXT_MISSING = `(() => {
  const texts = [document.body ? document.body.innerText : ''];
  for (const f of document.querySelectorAll('iframe')) {
    try { texts.push(f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : ''); } catch (e) { /* cross-origin */ }
    const doc = f.getAttribute('srcdoc');
    if (doc) texts.push(doc.replace(/<[^>]*>/g, ' '));
  }
  const t = texts.join(' ').replace(/\\s+/g, ' ');
  return WANTED.filter((w) => !t.includes(w));
})()`;

/** The page's text, whitespace folded, including what PAGE_TEXT_MISSING reads from iframes. */
const PAGE_TEXT = PAGE_TEXT_MISSING.replace('return WANTED.filter((w) => !t.includes(w));', 'return t;');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The DevTools port Chromium writes into its profile folder once it listens. */
async function devtoolsPort(profile: string, child: ChildProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Chromium exited with code ${child.exitCode} while starting`);
    try {
      const port = Number(readFileSync(join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0]);
      if (port > 0) return port;
    } catch {
      // not written yet
    }
    await sleep(100);
  }
  throw new Error(`Chromium did not open its DevTools port within ${timeoutMs / 1000}s`);
}

/** A minimal DevTools protocol session on one page. */
class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id!);
      if (msg.error) waiter.reject(new Error(msg.error.message));
      else waiter.resolve(msg.result);
    });
  }

  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener('open', () => resolve(new Cdp(ws)));
      ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)));
    });
  }

  send<T = unknown>(method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

function stopGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

async function removeProfile(profile: string): Promise<void> {
  for (let tries = 0; tries < 5; tries++) {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      return;
    } catch {
      await sleep(1000);
    }
  }
}

/** Captures the page once it shows every text asked for; resolves to the text it showed then. */
export async function screenshotPage(opts: ScreenshotOptions): Promise<string> {
  const width = opts.width ?? 1400;
  const height = opts.height ?? 900;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const profile = mkdtempSync(join(tmpdir(), 'page-screenshot-'));
  const child = spawn(
    opts.chromium ?? 'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      '--no-first-run',
      '--no-default-browser-check',
      // Nothing of its own in the background: on a closed network those connections fail, and its
      // helpers would keep writing into the profile after the page is done.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      `--user-data-dir=${profile}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--window-size=${width},${height}`,
      'about:blank',
    ],
    // Its own process group, so the helpers it forks are stopped with it.
    { stdio: 'ignore', detached: true },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let cdp: Cdp | undefined;
  try {
    const port = await devtoolsPort(profile, child, 30_000);
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
    const page = targets.find((t) => t.type === 'page');
    if (!page) throw new Error('Chromium has no page to drive');
    cdp = await Cdp.open(page.webSocketDebuggerUrl);
    await cdp.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    await cdp.send('Page.enable');
    if (opts.localStorage) {
      const entries = JSON.stringify(opts.localStorage);
      await cdp.send('Page.addScriptToEvaluateOnNewDocument', {
        source: `try { for (const [k, v] of Object.entries(${entries})) localStorage.setItem(k, v); } catch (e) { /* no local storage here */ }`,
      });
    }
    await cdp.send('Page.navigate', { url: opts.url });
    const wanted = opts.waitFor ?? [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { result } = await cdp.send<{ result: { value?: unknown } }>('Runtime.evaluate', {
        expression: PAGE_TEXT_MISSING.replace('WANTED', JSON.stringify(wanted)),
        returnByValue: true,
      });
      const missing = (result.value as string[] | undefined) ?? wanted;
      if (missing.length === 0) break;
      if (Date.now() > deadline) {
        // Keep what it did show, to see why.
        const shot = await cdp.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
        writeFileSync(opts.out, Buffer.from(shot.data, 'base64'));
        throw new Error(
          `${opts.url} did not show ${missing.map((m) => JSON.stringify(m)).join(', ')} within ${timeoutMs / 1000}s (what it showed: ${opts.out})`,
        );
      }
      await sleep(250);
    }
    await sleep(opts.settleMs ?? 1500);
    const shot = await cdp.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
    writeFileSync(opts.out, Buffer.from(shot.data, 'base64'));
    const { result } = await cdp.send<{ result: { value?: unknown } }>('Runtime.evaluate', { expression: PAGE_TEXT, returnByValue: true });
    return String(result.value ?? '');
  } finally {
    cdp?.close();
    stopGroup(child.pid, 'SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    stopGroup(child.pid, 'SIGKILL');
    // A helper may still be writing into the profile for a moment; a temp folder left behind is not
    // worth failing a screenshot for.
    await removeProfile(profile);
  }
}

function main(argv: string[]): void {
  const program = new Command('page-screenshot')
    .description('Save a PNG of a web page rendered by headless Chromium, once the page shows the given texts.')
    .requiredOption('--url <url>', 'page to capture')
    .requiredOption('--out <file>', 'PNG to write')
    .option(
      '--wait-for <text>',
      'capture only once the page shows this text (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option(
      '--size <WxH>',
      'window size',
      (v) => {
        const m = /^(\d+)x(\d+)$/.exec(v);
        if (!m) throw new InvalidArgumentError('--size must be WxH, e.g. 1400x900');
        return { width: Number(m[1]), height: Number(m[2]) };
      },
      { width: 1400, height: 900 },
    )
    .option(
      '--timeout <seconds>',
      'how long to wait for the texts',
      (v) => {
        const n = Number(v);
        if (!(n > 0)) throw new InvalidArgumentError('--timeout must be a positive number of seconds');
        return n;
      },
      60,
    )
    .option('--chromium <path>', 'the Chromium binary', process.env.CHROMIUM || 'chromium')
    .option('--local-storage <json>', 'local-storage entries to set before the page loads, as a JSON object of strings', (v: string) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(v);
      } catch {
        throw new InvalidArgumentError('--local-storage must be a JSON object, e.g. {"key":"value"}');
      }
      if (typeof parsed !== 'object' || parsed === null || Object.values(parsed).some((x) => typeof x !== 'string')) {
        throw new InvalidArgumentError('--local-storage must be a JSON object whose values are strings');
      }
      return parsed as Record<string, string>;
    })
    .parse(argv);
  const o = program.opts<{
    url: string;
    out: string;
    waitFor: string[];
    size: { width: number; height: number };
    timeout: number;
    chromium: string;
    localStorage?: Record<string, string>;
  }>();
  screenshotPage({
    url: o.url,
    out: o.out,
    waitFor: o.waitFor,
    width: o.size.width,
    height: o.size.height,
    timeoutMs: o.timeout * 1000,
    chromium: o.chromium,
    localStorage: o.localStorage,
  })
    .then(() => process.exit(0))
    .catch((err: unknown) => {
      process.stderr.write(`page-screenshot: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}

if (require.main === module) main(process.argv);

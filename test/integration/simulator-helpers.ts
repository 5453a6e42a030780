/** HTTP helpers for the simulator tests: plain undici requests, no redirects followed, no GRIN client. */
import * as openpgp from 'openpgp';
import { request } from 'undici';
import type { RunningSimulator } from '../../devkit/simulator';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export async function call(
  url: string,
  opts: { method?: 'GET' | 'HEAD' | 'POST'; token?: string | null; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? 'sim-token'}`;
  const res = await request(url, { method: opts.method ?? 'GET', headers, body: opts.body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

/** GET/HEAD/POST `<baseUrl>/<DIR>/<resource>`. */
export function grin(sim: RunningSimulator, resource: string, opts: Parameters<typeof call>[1] = {}): Promise<Answer> {
  return call(`${sim.baseUrl}/${sim.directory}/${resource}`, opts);
}

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/** Data rows of an HTML listing: the cells of each `<tr>` in `<tbody>`, tags stripped (hrefs kept for anchors). */
export function htmlRows(html: string): string[][] {
  const tbody = /<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
  return [...tbody.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1].matchAll(/<td>([\s\S]*?)<\/td>/g)].map((cell) => {
      const href = /<a href="([^"]*)"/.exec(cell[1]);
      const checkbox = /<input type="checkbox" name="barcodes" value="([^"]*)"/.exec(cell[1]);
      if (href) return href[1].replace(/&amp;/g, '&');
      if (checkbox) return `checkbox:${checkbox[1]}`;
      return cell[1]
        .replace(/<[^>]*>/g, '')
        .replace(/&#39;/g, "'")
        .replace(/&amp;/g, '&');
    }),
  );
}

export function htmlHeadings(html: string): string[] {
  const head = /<thead><tr class="heading">([\s\S]*?)<\/tr><\/thead>/.exec(html)?.[1] ?? '';
  return [...head.matchAll(/<td>([\s\S]*?)<\/td>/g)].map(
    (c) => /<span class="hd3">([^<]*)<\/span>/.exec(c[1])?.[1].replace(/&#39;/g, "'") ?? '',
  );
}

export function nextHref(html: string): string | undefined {
  const match = /<a href="([^"]*(?:first=|ctoken=)[^"]*)">Next &gt;<\/a>/.exec(html);
  return match?.[1].replace(/&amp;/g, '&');
}

export const TINY = { pages: { min: 2, max: 2 }, pageImageBytes: 4096 } as const;

/** GET an archive as bytes (small test archives only). */
export async function download(sim: RunningSimulator, filename: string, headers: Record<string, string> = {}) {
  const res = await request(`${sim.baseUrl}/${sim.directory}/${filename}`, { headers: { authorization: 'Bearer sim-token', ...headers } });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Decrypts a small passphrase-encrypted OpenPGP message in memory. */
export async function decrypt(bytes: Buffer, passphrase: string): Promise<Buffer> {
  const message = await openpgp.readMessage({ binaryMessage: bytes });
  const { data } = await openpgp.decrypt({ message, passwords: [passphrase], format: 'binary' });
  return Buffer.from(data as Uint8Array);
}

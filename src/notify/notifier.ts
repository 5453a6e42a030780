/**
 * Notifications (issue 24, item 7): a batch finished, books parked (grouped: one message for the
 * parks of a window, with their reasons), the stall detector found stalls. Each goes to the
 * webhook (POST JSON) and/or by mail through the host's sendmail, as `notify` in the config says.
 *
 * Best effort and never in the way: `send` returns at once, delivery runs in the background with a
 * few retries, and a failure is one warning in the log. The webhook URL often carries a secret (a
 * Slack or Teams URL does), so it is registered as one and logs name only its host.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import type { NotifyConfig } from '../config/types';
import type { Logger } from '../logging/logger';
import { registerSecret } from '../common/secret-values';

export type NotifyEvent =
  | { kind: 'batch-finished'; batchId: string; total: number; stored: number; failed: number; cancelled: number }
  | { kind: 'books-parked'; books: { barcode: string; stage: string; reason: string }[] }
  | { kind: 'stalled'; lines: string[] };

export interface Notification {
  event: NotifyEvent['kind'];
  /** One line for a mail subject or a chat message. */
  title: string;
  /** Plain text, one fact a line. */
  text: string;
  directory: string;
  host: string;
  at: string;
  details: NotifyEvent;
}

export interface Notifier {
  /** Queues the event for delivery; never throws, never waits. */
  send(event: NotifyEvent): void;
  /** A park, grouped with the others of its window (`notify.parkWindowSeconds`). */
  parked(book: { barcode: string; stage: string; reason: string }): void;
  /** Sends what is grouped now and waits for every delivery under way (shutdown, tests). */
  flush(): Promise<void>;
}

export interface NotifierOptions {
  /** Delivery attempts per channel (default 3) and the first pause between them (default 2 s, doubling). */
  attempts?: number;
  retryMs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

/** The message for an event. */
export function notificationFor(event: NotifyEvent, directory: string, at = new Date()): Notification {
  const base = { event: event.kind, directory, host: hostname(), at: at.toISOString(), details: event };
  switch (event.kind) {
    case 'batch-finished':
      return {
        ...base,
        title: `grin-pipeline: batch ${event.batchId} finished: ${event.stored} of ${event.total} stored, ${event.failed} parked, ${event.cancelled} cancelled`,
        text: [
          `batch ${event.batchId} (${directory}) finished`,
          `stored ${event.stored}`,
          `parked in failed ${event.failed}`,
          `cancelled ${event.cancelled}`,
          `total ${event.total}`,
        ]
          .concat(event.failed > 0 ? ['`grin-pipeline board --bucket failed` lists the parked books and their reasons'] : [])
          .join('\n'),
      };
    case 'books-parked':
      return {
        ...base,
        title: `grin-pipeline: ${event.books.length} book(s) parked in failed (${directory})`,
        text: event.books
          .map((b) => `${b.barcode}: ${b.stage} failed: ${b.reason}`)
          .concat(['`grin-pipeline retry <barcode>` after fixing the cause; `grin-pipeline status <barcode>` says what to do'])
          .join('\n'),
      };
    case 'stalled':
      return { ...base, title: `grin-pipeline: stalled (${directory}): ${event.lines[0] ?? ''}`, text: event.lines.join('\n') };
  }
}

/** A mail message for sendmail -t: headers from the config, body the notification's text. */
export function mailMessage(n: Notification, to: readonly string[]): string {
  const subject = n.title.replace(/[\r\n]+/g, ' ');
  return `To: ${to.join(', ')}\nSubject: ${subject}\nContent-Type: text/plain; charset=utf-8\nX-Grin-Pipeline-Event: ${n.event}\n\n${n.text}\n\n(${n.host}, ${n.at})\n`;
}

/** A notifier that does nothing (no `notify` settings). */
export const NO_NOTIFIER: Notifier = { send: () => undefined, parked: () => undefined, flush: async () => undefined };

export function createNotifier(config: NotifyConfig, directory: string, logger: Logger, opts: NotifierOptions = {}): Notifier {
  if (!config.webhook && config.mailTo.length === 0) return NO_NOTIFIER;
  if (config.webhook) registerSecret(config.webhook, 'notify.webhook URL');
  const attempts = opts.attempts ?? 3;
  const retryMs = opts.retryMs ?? 2000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const underway = new Set<Promise<void>>();
  let parks: { barcode: string; stage: string; reason: string }[] = [];
  let parkTimer: NodeJS.Timeout | undefined;

  const webhookHost = config.webhook ? new URL(config.webhook).host : '';
  const channels: { name: string; deliver: (n: Notification) => Promise<void> }[] = [];
  if (config.webhook) {
    const url = config.webhook;
    channels.push({
      name: `webhook at ${webhookHost}`,
      deliver: async (n) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(n),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.body?.cancel().catch(() => undefined);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      },
    });
  }
  if (config.mailTo.length) {
    channels.push({
      name: `mail through ${config.sendmail}`,
      deliver: (n) => sendmail(config.sendmail, mailMessage(n, config.mailTo), timeoutMs),
    });
  }

  const deliver = async (n: Notification) => {
    for (const channel of channels) {
      for (let attempt = 1; ; attempt++) {
        try {
          await channel.deliver(n);
          break;
        } catch (err) {
          if (attempt >= attempts) {
            // The cause without the URL (a fetch error may quote it; the scrubber would hide it anyway).
            const why =
              err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
            logger.warn(
              `notification "${n.event}" not delivered by ${channel.name} after ${attempts} attempts: ${why.split(config.webhook ?? '\0').join('<notify.webhook>')}`,
              { component: 'notify' },
            );
            break;
          }
          await new Promise((r) => setTimeout(r, retryMs * 2 ** (attempt - 1)).unref());
        }
      }
    }
  };

  const send = (event: NotifyEvent) => {
    const p = deliver(notificationFor(event, directory)).catch(() => undefined);
    underway.add(p);
    void p.finally(() => underway.delete(p));
  };

  const sendParks = () => {
    if (parkTimer) clearTimeout(parkTimer);
    parkTimer = undefined;
    if (!parks.length) return;
    const books = parks;
    parks = [];
    send({ kind: 'books-parked', books });
  };

  return {
    send,
    parked(book) {
      parks.push(book);
      if (!parkTimer) {
        parkTimer = setTimeout(sendParks, config.parkWindowSeconds * 1000);
        parkTimer.unref();
      }
    },
    async flush() {
      sendParks();
      while (underway.size) await Promise.all([...underway]);
    },
  };
}

/** Runs `sendmail -t -oi` with the message on standard input; rejects on a non-zero exit. */
function sendmail(program: string, message: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // This process's environment as it is now (PATH finds sendmail; jest gives tests a copy of it).
    const child = spawn(program, ['-t', '-oi'], { stdio: ['pipe', 'ignore', 'pipe'], timeout: timeoutMs, env: process.env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${program} exited with ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(message);
  });
}

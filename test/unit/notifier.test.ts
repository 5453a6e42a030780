/**
 * The notifier's promises (src/notify): it never throws or waits for its caller, a receiver that is
 * down or a sendmail that fails ends as one warning that does not quote the webhook URL, and parks
 * within a window go out as one message.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/logging/logger';
import { createNotifier, mailMessage, notificationFor, NO_NOTIFIER, type Notification } from '../../src/notify/notifier';

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger = {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (m: string) => warnings.push(m),
    error: () => undefined,
    child: () => logger,
  } as unknown as Logger & { warnings: string[] };
  return logger;
}

const config = { mailTo: [] as string[], sendmail: 'sendmail', parkWindowSeconds: 1 };

test('no webhook and no mail: nothing to do', () => {
  expect(createNotifier(config, 'DIR', recordingLogger())).toBe(NO_NOTIFIER);
});

test('a webhook that is down: send returns at once, the failure is one warning without the URL', async () => {
  // A port with nothing listening: take one and close it.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const logger = recordingLogger();
  const url = `http://127.0.0.1:${port}/hook/very-secret-key`;
  const notifier = createNotifier({ ...config, webhook: url }, 'DIR', logger, { attempts: 2, retryMs: 10 });
  expect(notifier.send({ kind: 'stalled', lines: ['STALLED x'] })).toBeUndefined();
  await notifier.flush();
  expect(logger.warnings).toHaveLength(1);
  expect(logger.warnings[0]).toMatch(/^notification "stalled" not delivered by webhook at 127\.0\.0\.1:\d+ after 2 attempts/);
  expect(logger.warnings[0]).not.toContain('very-secret-key');
});

test('parks within the window go out as one message; a failing sendmail is a warning', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'notify-'));
  try {
    const bodies: Notification[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(body) as Notification);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const failing = join(dir, 'sendmail-fails');
    writeFileSync(failing, '#!/bin/sh\necho "mail system down" >&2\nexit 75\n');
    chmodSync(failing, 0o755);
    const logger = recordingLogger();
    const notifier = createNotifier(
      {
        ...config,
        webhook: `http://127.0.0.1:${(server.address() as AddressInfo).port}/h`,
        mailTo: ['ops@example.org'],
        sendmail: failing,
      },
      'DIR',
      logger,
      { attempts: 2, retryMs: 10 },
    );
    notifier.parked({ barcode: 'B1', stage: '04_decrypted', reason: 'wrong passphrase' });
    notifier.parked({ barcode: 'B2', stage: '05_extracted', reason: 'checksum mismatch' });
    await notifier.flush();
    await new Promise((r) => server.close(r));
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toMatchObject({ event: 'books-parked', title: 'grin-pipeline: 2 book(s) parked in failed (DIR)' });
    expect(bodies[0].text).toContain('B1: 04_decrypted failed: wrong passphrase\nB2: 05_extracted failed: checksum mismatch');
    expect(logger.warnings).toEqual([
      expect.stringMatching(/not delivered by mail through .*sendmail-fails after 2 attempts: .*exited with 75: mail system down/),
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a mail message: headers for sendmail -t, no line break smuggled into the subject', () => {
  const n = notificationFor({ kind: 'batch-finished', batchId: 'b\nBcc: x@evil', total: 3, stored: 2, failed: 1, cancelled: 0 }, 'DIR');
  const mail = mailMessage(n, ['a@example.org', 'b@example.org']);
  expect(mail).toMatch(
    /^To: a@example\.org, b@example\.org\nSubject: grin-pipeline: batch b Bcc: x@evil finished: 2 of 3 stored, 1 parked, 0 cancelled\n/,
  );
  const headers = mail.slice(0, mail.indexOf('\n\n'));
  expect(headers).not.toMatch(/^Bcc:/m);
});

/**
 * The Temporal Web UI's workflow list (2.54, as the dev server ships it) rendered by headless
 * Chromium with the settings an operator sets once per browser (devkit/devtools/web-ui-list.ts): the
 * link to the parked books saves the view "Parked books", and the columns show each book's stage and,
 * for a parked one, why (GrinParkReason), while books that are not parked are not listed. The books
 * here are workflows started with those search attributes and no worker (web-ui-metadata.test.ts
 * checks that the pipeline sets them); what is tested is that the real UI shows them this way.
 * Skipped, with the reason printed, where Chromium is not installed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { screenshotPage } from '../../devkit/devtools/page-screenshot';
import { freePort, startTemporalDevServer, type RunningServer } from '../../devkit/devtools/servers';
import { BOOK_LIST_COLUMNS, bookListStorage, PARKED_VIEW, parkedViewUrl } from '../../devkit/devtools/web-ui-list';
import { parkReasonText } from '../../src/workflows/metadata';
import { GrinBarcode, GrinBatch, GrinParkReason, GrinStage } from '../../src/workflows/search-attributes';
import { chromium, describeWithChromium } from '../support/chromium';
import { waitUntil } from '../support/wait';

jest.setTimeout(300_000);

describeWithChromium('the Web UI list of books', () => {
  let server: RunningServer & { uiUrl?: string };
  let connection: Connection;
  let dir: string;
  const parked = {
    id: 'grin/TEST/PARKED0001',
    reason: parkReasonText('04_decrypted', 'the archive is not valid gzip data (incorrect header check)', 'CorruptArchiveError'),
  };
  const stored = 'grin/TEST/STORED0002';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'web-ui-list-'));
    server = await startTemporalDevServer({ port: await freePort(), uiPort: await freePort() });
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    // No worker polls this queue: the workflows stay open with the search attributes given at start.
    const start = (id: string, stage: string, reason?: string) =>
      client.workflow.start('bookWorkflow', {
        workflowId: id,
        taskQueue: 'nobody-polls-this',
        args: [],
        typedSearchAttributes: [
          { key: GrinBarcode, value: id.split('/')[2] },
          { key: GrinStage, value: stage },
          { key: GrinBatch, value: 'first-10k' },
          ...(reason ? [{ key: GrinParkReason, value: reason }] : []),
        ],
      });
    await start(parked.id, 'failed', parked.reason);
    await start(stored, '07_stored');
    await waitUntil(
      async () => (await client.workflow.count('GrinStage = "failed"')).count === 1,
      60_000,
      'visibility lists the parked book',
    );
  });
  afterAll(async () => {
    await connection?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the saved link lists only parked books, with the columns GrinStage and GrinParkReason showing why', async () => {
    const text = await screenshotPage({
      url: parkedViewUrl(server.uiUrl!, 'default', true),
      out: join(dir, 'parked.png'),
      localStorage: bookListStorage('default'),
      waitFor: [parked.id, parked.reason, PARKED_VIEW.name, 'GrinParkReason', 'GrinStage'],
      chromium,
      settleMs: 500,
    });
    expect(text).not.toContain(stored);
    // The header row: the columns in the order asked for, the UI's own labels included; then the row.
    expect(text).toContain(`${BOOK_LIST_COLUMNS.join(' ')} `);
    const row = text.slice(text.indexOf(`${parked.id} failed ${parked.reason} first-10k `));
    expect(row).toMatch(/^\S+ failed .+ first-10k \w{3} \d+, \d{4}, [\d:.]+ [AP]M UTC RUNNING /);
  });

  test('without those settings the default columns do not show the reason (what the settings are for)', async () => {
    const text = await screenshotPage({
      url: parkedViewUrl(server.uiUrl!, 'default'),
      out: join(dir, 'default.png'),
      waitFor: [parked.id],
      chromium,
      settleMs: 500,
    });
    expect(text).not.toContain(parked.reason);
    expect(text).not.toContain('GrinParkReason');
  });
});

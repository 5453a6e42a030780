/**
 * The demo's Web UI address when it reuses a Temporal server it did not start: found where a
 * Temporal Web UI really answers (the --ui-port given, else frontend port + 1000), and undefined
 * rather than a guess when none answers there.
 */
import { findWebUi, freePort, startTemporalDevServer, temporalWebUiAt, type RunningServer } from '../../devkit/devtools/servers';
import { temporalAddress } from '../support/pipeline';

jest.setTimeout(300_000);

let server: RunningServer & { uiUrl?: string };
let port: number;
let uiPort: number;

beforeAll(async () => {
  port = await freePort();
  uiPort = await freePort();
  // A UI on a port that is not frontend + 1000, as `temporal server start-dev --ui-port` allows.
  server = await startTemporalDevServer({ port, uiPort });
});
afterAll(() => server?.stop());

test('a dev server started with a UI port reports that address, and a Temporal Web UI answers there', async () => {
  expect(server.uiUrl).toBe(`http://127.0.0.1:${uiPort}`);
  expect(await temporalWebUiAt(uiPort)).toBe(true);
  // The gRPC frontend is not a Web UI.
  expect(await temporalWebUiAt(port)).toBe(false);
});

test('reusing the server: the UI is found at the --ui-port given', async () => {
  expect(await findWebUi(port, uiPort)).toBe(`http://127.0.0.1:${uiPort}`);
});

test('reusing the server without --ui-port: no UI at port + 1000 gives undefined, not a guess', async () => {
  if (uiPort === port + 1000) return; // the two free ports happened to be 1000 apart: nothing to show
  expect(await findWebUi(port)).toBeUndefined();
  // The headless test server of this run has no UI at all.
  expect(await findWebUi(Number(temporalAddress().split(':')[1]))).toBeUndefined();
});

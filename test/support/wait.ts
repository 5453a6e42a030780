/**
 * Polls `check` until it holds; fails naming `what` (and the time waited) when it never does.
 * With GRIN_TEST_TRACE=1 it prints how long each wait took (to find where a slow test spends its time).
 */
/**
 * How long a test waits for something that must happen: a bound on a hang, never a speed
 * expectation (on a loaded 2-core machine, a step that takes seconds idle took minutes).
 */
export const PATIENCE_MS = 15 * 60_000;

/**
 * How long a test that waits for several such things may run in all before Jest calls it hung;
 * for files whose tests wait with PATIENCE_MS (`jest.setTimeout(TEST_PATIENCE_MS)`).
 */
export const TEST_PATIENCE_MS = 45 * 60_000;

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) {
      if (process.env.GRIN_TEST_TRACE) process.stderr.write(`waited ${Date.now() - started} ms for ${what}\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms`);
}

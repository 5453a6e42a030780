/**
 * Polls `check` until it holds; fails naming `what` (and the time waited) when it never does.
 * With GRIN_TEST_TRACE=1 it prints how long each wait took (to find where a slow test spends its time).
 */
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

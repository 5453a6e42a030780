/**
 * Chromium for the tests that render pages (the Web UI list, page-screenshot). It is a Debian
 * package (`apt-get install -y chromium`), not an npm one: where it is absent these tests are
 * skipped, and say so in the test output rather than pass silently.
 */
import { spawnSync } from 'node:child_process';

export const chromium: string | undefined =
  process.env.CHROMIUM ||
  ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);

/** `describe` where Chromium is installed; elsewhere `describe.skip`, with the reason printed. */
export function describeWithChromium(name: string, fn: () => void): void {
  if (chromium) {
    describe(name, fn);
    return;
  }
  console.warn(`SKIPPED "${name}": Chromium is not installed (Debian: apt-get install -y chromium; or set CHROMIUM=/path/to/chrome).`);
  describe.skip(name, fn);
}

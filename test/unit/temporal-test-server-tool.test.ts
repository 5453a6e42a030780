import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTemporalTestServer } from '../../devkit/devtools/tools';

/**
 * Runs `check` with an empty tools cache and a PATH holding only the given programs (each a link to
 * the system program named beside it); `check` gets the cache folder.
 */
function withPath(programs: Record<string, string>, check: (toolsDir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'grin-tools-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const [name, target] of Object.entries(programs)) symlinkSync(target, join(bin, name));
  const saved = { PATH: process.env.PATH, GRIN_PIPELINE_TOOLS: process.env.GRIN_PIPELINE_TOOLS };
  process.env.PATH = bin;
  process.env.GRIN_PIPELINE_TOOLS = join(dir, 'tools');
  try {
    check(join(dir, 'tools'));
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.GRIN_PIPELINE_TOOLS === undefined) delete process.env.GRIN_PIPELINE_TOOLS;
    else process.env.GRIN_PIPELINE_TOOLS = saved.GRIN_PIPELINE_TOOLS;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('without Maven on PATH, fetching the time-skipping test server says what to install', () => {
  withPath({ java: '/bin/true' }, () => {
    expect(() => ensureTemporalTestServer()).toThrow(/mvn is not on PATH\. Install a JDK \(17 or newer\) and Maven/);
  });
});

test('without Java on PATH, it names java', () => {
  withPath({ mvn: '/bin/true' }, () => {
    expect(() => ensureTemporalTestServer()).toThrow(/java is not on PATH/);
  });
});

test('a Maven that fails is reported with its exit code, and leaves nothing in the cache to be taken for a copy', () => {
  withPath({ java: '/bin/true', mvn: '/bin/false' }, (tools) => {
    expect(() => ensureTemporalTestServer()).toThrow(/mvn could not fetch the Temporal test server \(exit 1\)/);
    expect(readdirSync(tools)).toEqual([]);
  });
});

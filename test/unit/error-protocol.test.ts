/**
 * The error protocol, strictly: every error thrown in the stages' code (src/storage, src/archive,
 * src/grin, src/activities) is a PipelineError that says whether retrying helps. A plain `Error`
 * says nothing, so it would be retried as transient forever, even for a fault no retry can fix.
 * This reads those folders' sources and fails on any plain Error made or subclassed there.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const FOLDERS = ['src/storage', 'src/archive', 'src/grin', 'src/activities'];
/** `new Error(`, `Error(` called without new, `extends Error`: each makes an error that does not say whether to retry. */
const PLAIN_ERROR = /(?<![\w.$])(?:new\s+Error\s*\(|Error\s*\(|extends\s+Error\b)/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

/** Source lines with comments and string contents blanked, so prose about errors does not count. */
function codeLines(text: string): string[] {
  const stripped = text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/\/\/.*$/gm, '')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''");
  return stripped.split('\n');
}

export function plainErrors(files: string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    codeLines(readFileSync(file, 'utf8')).forEach((line, i) => {
      if (PLAIN_ERROR.test(line)) found.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

describe('the error protocol', () => {
  const files = FOLDERS.flatMap((folder) => sources(join(ROOT, folder)));

  it('reads every folder it guards', () => {
    for (const folder of FOLDERS) expect(files.some((f) => f.startsWith(join(ROOT, folder)))).toBe(true);
  });

  it('has no plain Error in src/storage, src/archive, src/grin or src/activities (use a PipelineError subclass)', () => {
    expect(plainErrors(files)).toEqual([]);
  });

  it('would catch one reintroduced', () => {
    const probe = join(ROOT, 'test', 'unit', 'fixtures', 'plain-error-probe.ts.txt');
    const lines = plainErrors([probe]);
    expect(lines.map((l) => l.replace(/^.*?:(\d+):.*$/, '$1'))).toEqual(['3', '4', '5', '6']);
  });
});

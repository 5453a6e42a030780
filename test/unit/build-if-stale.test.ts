/**
 * scripts/build-if-stale.js: the npm scripts compile only when a source, a folder (file added or
 * removed), a tsconfig or the lockfile is newer than the last build's stamp.
 */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { staleReason } = createRequire(__filename)('../../scripts/build-if-stale.js') as { staleReason(root: string): string | undefined };

let root: string;
const past = new Date(Date.now() - 3_600_000);
const built = new Date(Date.now() - 1_800_000);

function age(file: string, when: Date): void {
  utimesSync(join(root, file), when, when);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'grin-stale-'));
  for (const dir of ['src/cli', 'devkit/simulator', 'bench', 'dist']) mkdirSync(join(root, dir), { recursive: true });
  for (const file of ['src/a.ts', 'src/cli/b.ts', 'devkit/simulator/d.ts', 'bench/c.ts', 'tsconfig.json', 'dist/.build-stamp'])
    writeFileSync(join(root, file), '');
  for (const file of [
    'src/a.ts',
    'src/cli/b.ts',
    'devkit/simulator/d.ts',
    'bench/c.ts',
    'tsconfig.json',
    'src/cli',
    'src',
    'devkit/simulator',
    'devkit',
    'bench',
  ])
    age(file, past);
  age('dist/.build-stamp', built);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

test('nothing newer than the stamp: no build', () => {
  expect(staleReason(root)).toBeUndefined();
});

test('no stamp: build', () => {
  unlinkSync(join(root, 'dist/.build-stamp'));
  expect(staleReason(root)).toBe('no earlier build');
});

test('an edited source file deep in src/: build', () => {
  age('src/cli/b.ts', new Date());
  expect(staleReason(root)).toBe('src/ changed');
});

test('an edited simulator file in devkit/: build', () => {
  age('devkit/simulator/d.ts', new Date());
  expect(staleReason(root)).toBe('devkit/ changed');
});

test('a removed source file (its folder changes): build', () => {
  unlinkSync(join(root, 'src/cli/b.ts'));
  expect(staleReason(root)).toBe('src/ changed');
});

test('a changed tsconfig: build; a non-TypeScript file in src/ is ignored', () => {
  writeFileSync(join(root, 'src/cli/notes.md'), 'x');
  age('src/cli/notes.md', new Date());
  age('src/cli', past);
  expect(staleReason(root)).toBeUndefined();
  age('tsconfig.json', new Date());
  expect(staleReason(root)).toBe('tsconfig.json changed');
});

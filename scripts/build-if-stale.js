#!/usr/bin/env node
/**
 * Compiles src/, devkit/ and bench/ into dist/ only when something changed since the last build, so
 * `npm run worker|simulator|start-batch|board|cli|demo` start at once on an unchanged tree. "Changed"
 * means a source file, a folder (a file added or removed), a tsconfig or the lockfile is newer than
 * dist/.build-stamp, which is dated to the start of the last successful build. Plain JavaScript: it
 * has to run before anything is compiled. `--force` builds regardless (`npm run build`).
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const STAMP = path.join('dist', '.build-stamp');
const SOURCE_DIRS = ['src', 'devkit', 'bench'];
const SOURCE_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

/** Newest modification time (ms) under `dir` among .ts files and the folders themselves. */
function newestUnder(dir) {
  let newest = 0;
  let entries;
  try {
    newest = fs.statSync(dir).mtimeMs;
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return newest;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestUnder(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Why a build is needed in `root`, or undefined when dist/ is up to date. */
function staleReason(root) {
  let built;
  try {
    built = fs.statSync(path.join(root, STAMP)).mtimeMs;
  } catch {
    return 'no earlier build';
  }
  for (const dir of SOURCE_DIRS) if (newestUnder(path.join(root, dir)) > built) return `${dir}/ changed`;
  for (const file of SOURCE_FILES) {
    try {
      if (fs.statSync(path.join(root, file)).mtimeMs > built) return `${file} changed`;
    } catch {
      // absent: nothing to compare
    }
  }
  return undefined;
}

function build(root) {
  const started = new Date();
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  // Dated to the start: a file saved during the build is newer, so the next run builds again.
  fs.writeFileSync(path.join(root, STAMP), `${started.toISOString()}\n`);
  fs.utimesSync(path.join(root, STAMP), started, started);
}

if (require.main === module) {
  const force = process.argv.includes('--force');
  const reason = force ? 'forced' : staleReason(ROOT);
  if (reason !== undefined) {
    if (!force) process.stderr.write(`compiling (${reason})...\n`);
    build(ROOT);
  }
}

module.exports = { staleReason };

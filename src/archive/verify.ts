/**
 * Verifies an unpacked book against its `checksum.md5` (md5sum format). Every listed file is hashed
 * (streamed) unless its digest was already taken while it was written; names obey the same
 * path-safety rules as extraction, so the list cannot make us read outside the book's folder.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import type { ChecksumResult } from './types';
import { ChecksumMismatchError, CorruptArchiveError, UnsafeArchiveError, listNames } from './errors';
import { normaliseMemberName, resolveInside } from './paths';

export const CHECKSUM_FILE = 'checksum.md5';

export interface VerifyOptions {
  /**
   * Digests taken during extraction (path relative to `dir` → hex MD5): those files are not re-read,
   * and need not be on disk. Only pass digests of the archive that was unpacked into `dir`.
   */
  knownMd5?: Map<string, string>;
}

interface ChecksumLine {
  md5: string;
  name: string;
}

/** `<hex>  <name>` / `<hex> *<name>` (GNU md5sum) or `MD5 (<name>) = <hex>` (BSD / `--tag`). */
function parseLine(line: string): ChecksumLine | null {
  const gnu = /^([0-9a-fA-F]{32}) [ *](.+)$/.exec(line);
  if (gnu) return { md5: gnu[1].toLowerCase(), name: gnu[2] };
  const bsd = /^MD5 \((.+)\) = ([0-9a-fA-F]{32})$/.exec(line);
  if (bsd) return { md5: bsd[2].toLowerCase(), name: bsd[1] };
  return null;
}

/** The shallowest `checksum.md5` in the tree (the usual flat layout has it at the top). */
async function findChecksumFile(dir: string): Promise<string | null> {
  let level = [dir];
  while (level.length > 0) {
    const next: string[] = [];
    for (const folder of level) {
      const entries = await readdir(folder, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const hit = entries.find((e) => e.isFile() && e.name === CHECKSUM_FILE);
      if (hit) return join(folder, hit.name);
      next.push(...entries.filter((e) => e.isDirectory()).map((e) => join(folder, e.name)));
    }
    level = next;
  }
  return null;
}

async function readChecksumLines(file: string, shownName: string): Promise<ChecksumLine[]> {
  const lines: ChecksumLine[] = [];
  const reader = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of reader) {
    n++;
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const parsed = parseLine(line);
    if (!parsed) {
      reader.close();
      throw new CorruptArchiveError(`${shownName} line ${n} is not in md5sum format ("<32 hex digits>  <file name>").`);
    }
    lines.push(parsed);
  }
  return lines;
}

async function md5OfFile(file: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

/**
 * Checks every file listed in `checksum.md5` under `dir`. Throws ChecksumMismatchError naming the
 * files that differ or are missing; an archive without `checksum.md5` gives `hadChecksumFile: false`.
 * Files present but not listed are returned in `unlisted` (their contents could not be checked).
 */
export async function verifyChecksums(dir: string, opts: VerifyOptions = {}): Promise<ChecksumResult> {
  const listFile = await findChecksumFile(dir);
  if (!listFile) return { verified: 0, hadChecksumFile: false, unlisted: [] };
  const base = join(listFile, '..');
  const shownName = relative(dir, listFile);
  // Paths in knownMd5 are relative to `dir`; names in the list are relative to the list's folder.
  const prefix = relative(dir, base).split('\\').join('/');

  const mismatched: string[] = [];
  const missing: string[] = [];
  const listed = new Set<string>([relative(dir, listFile).split('\\').join('/')]);
  let verified = 0;
  for (const { md5, name } of await readChecksumLines(listFile, shownName)) {
    const normalised = normaliseMemberName(name);
    if ('problem' in normalised || normalised.path === '') {
      const why = 'problem' in normalised ? normalised.problem : 'is empty';
      throw new UnsafeArchiveError(name, `${shownName} lists "${name}", which ${why}; refusing to follow it.`);
    }
    const target = resolveInside(base, normalised.path);
    if (!target) throw new UnsafeArchiveError(name, `${shownName} lists "${name}", which is outside the book's folder.`);
    const key = prefix ? `${prefix}/${normalised.path}` : normalised.path;
    listed.add(key);

    // A digest taken while unpacking counts even if the file was not kept on disk (writeOnly).
    let actual = opts.knownMd5?.get(key);
    if (actual === undefined) {
      const info = await stat(target).catch(() => null);
      if (!info || !info.isFile()) {
        missing.push(name);
        continue;
      }
      actual = await md5OfFile(target);
    }
    if (actual === md5) verified++;
    else mismatched.push(name);
  }

  if (mismatched.length > 0 || missing.length > 0) {
    const parts: string[] = [];
    if (mismatched.length > 0) parts.push(`${mismatched.length} file(s) differ from ${shownName}: ${listNames(mismatched)}`);
    if (missing.length > 0) parts.push(`${missing.length} listed file(s) are missing: ${listNames(missing)}`);
    throw new ChecksumMismatchError(`Checksum check failed in ${dir}: ${parts.join('; ')}.`, mismatched, missing);
  }
  // Files the list does not name were not checked: not an error (GRIN's lists are complete), but said.
  const present = opts.knownMd5 ? [...opts.knownMd5.keys()] : await filesUnder(dir);
  const unlisted = present.filter((path) => !listed.has(path)).sort();
  return { verified, hadChecksumFile: true, unlisted };
}

/** Relative POSIX paths of the regular files under `dir`. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'));
}

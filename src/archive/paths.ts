/**
 * Path-safety rules shared by extraction and checksum verification: a name from an archive may only
 * ever point at something inside the book's folder.
 */
import { resolve, sep } from 'node:path';

/**
 * Normalises an archive member name to a relative POSIX path (empty string = the folder itself),
 * or returns why the name is refused. `.` and empty segments are dropped, as GNU tar does.
 */
export function normaliseMemberName(name: string): { path: string } | { problem: string } {
  if (name.includes('\0')) return { problem: 'contains a NUL byte' };
  if (name.includes('\\')) return { problem: 'contains a backslash' };
  if (name.startsWith('/')) return { problem: 'is an absolute path' };
  if (/^[A-Za-z]:/.test(name)) return { problem: 'starts with a drive letter' };
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { problem: 'contains a ".." segment' };
  return { path: segments.join('/') };
}

/** Absolute path of `relative` under `root`, or null if it would land outside `root`. */
export function resolveInside(root: string, relative: string): string | null {
  const target = resolve(root, relative);
  return target.startsWith(root + sep) ? target : null;
}

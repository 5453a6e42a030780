/**
 * The crash points of the file stages, to prove every stage is safe to repeat: each names the side
 * effect just done when an activity calls `deps.crashPoint` (ActivityDeps) with it. Production sets no
 * hook; the crash tests' workers set one that kills the process there (test/support/kill-switch.ts).
 */

/** Every kill point, by activity: each names the side effect just done when it fires. */
export const KILL_POINTS = {
  download: ['after-partial', 'after-rename', 'after-token-move'],
  decrypt: ['after-output', 'after-record', 'after-token-move', 'after-input-removed'],
  extract: ['after-unpack', 'after-token-move'],
  process: ['after-output', 'after-token-move'],
  upload: ['after-part', 'after-archive', 'after-derivatives', 'after-token-update', 'after-token-object'],
  cleanup: ['after-files-removed', 'after-token-move'],
} as const;

type Points = typeof KILL_POINTS;
export type KillPoint = { [A in keyof Points]: `${A}:${Points[A][number]}` }[keyof Points];

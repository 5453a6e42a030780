/**
 * The exit codes every `grin-pipeline` command keeps, so scripts can branch on them: one table,
 * used by the code (EXIT) and shown in the top-level `--help` (EXIT_CODES_HELP) and the README.
 */
export const EXIT = {
  ok: 0,
  /** The operation failed: a service did not answer, a check failed, problems were reported and not fixed. */
  failed: 1,
  /** Bad input: unknown barcode or batch, missing file, bad option or config. The command changed nothing it was not asked to. */
  badInput: 2,
  /** `start-batch --wait`: the batch finished, but some of its books are parked in failed or cancelled. */
  parked: 3,
} as const;

export const EXIT_CODES_HELP = `Exit codes (every command):
  0  ok
  1  the operation failed: Temporal, GRIN or storage did not answer, a check failed,
     or problems were reported that the command did not fix (reconcile, resume)
  2  bad input: unknown barcode or batch id, missing file, bad option or config
  3  start-batch --wait: the batch finished with books parked in failed or cancelled
  (unpack also exits 130 on Ctrl-C, 143 on SIGTERM)
Errors are one line on stderr starting with "error: ". With --json, results go to stdout
as one JSON document (shapes: docs/cli.md).`;

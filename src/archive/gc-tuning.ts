/**
 * Garbage-collector setting for a process that does little but stream archives (`grin-pipeline
 * unpack`): turns off V8's incremental marking.
 *
 * Why: streaming 300 MB through node:zlib, tar-stream and the decryption thread's hand-off allocates
 * ~600 MB of short-lived buffers in the main thread while its JavaScript heap stays at ~10 MB. V8
 * starts incremental marking whenever the old generation's headroom is smaller than the young
 * generation (here: ~7 MB of headroom against a 16 MB semi-space), so such a process ran a
 * mark-compact every ~200 ms: 30–37 of them per 300 MB archive (`--trace-gc`), each followed by the
 * next. Without incremental marking the dead buffers are freed by the young-generation collections
 * alone: 2 mark-compacts per archive, ~0.5 CPU s less per 300 MB (measured; see docs/benchmarks.md,
 * issue 10). Full collections, when they happen, then pause the thread instead of interleaving,
 * which costs nothing noticeable with a heap this small.
 *
 * It is a process-wide V8 flag, so only a short-lived command that owns its process sets it; a
 * long-running process (the Temporal worker, whose heap is larger and whose GC behaves
 * differently) is left as it is. `--max-semi-space-size=1` on the node command line has the same
 * effect on the main thread, but cannot be set once the process runs.
 */
import { setFlagsFromString } from 'node:v8';

let tuned = false;

/** Applies the setting above to this process (once; later calls do nothing). */
export function tuneGcForStreamingProcess(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString('--no-incremental-marking');
}

/** Shared set-up for the GRIN client integration tests: a client pointed at a running simulator. */
import { GrinClient, type GrinClientOptions } from '../../src/grin/client';
import { StaticTokenSource } from '../../src/grin/auth';
import type { RunningSimulator } from '../../devkit/simulator';
import { retrying, type CliRetryPolicy } from '../../src/cli/retry';

/** Small delays so retries stay fast in tests. */
export const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

/**
 * `fn` under the CLI's retry helper with FAST_RETRY (the client itself makes one attempt per call);
 * the "retrying" lines go to `lines` when given.
 */
export function retried<T>(fn: () => Promise<T>, lines?: string[], policy: Partial<CliRetryPolicy> = FAST_RETRY): Promise<T> {
  return retrying('test', fn, { policy, log: (line) => lines?.push(line) });
}

export function clientFor(sim: RunningSimulator, extra: Partial<GrinClientOptions> = {}): GrinClient {
  return new GrinClient({
    baseUrl: sim.baseUrl,
    directory: sim.directory,
    tokens: new StaticTokenSource(sim.accessTokens[0]!),
    timeouts: { connectMs: 2_000, requestMs: 10_000 },
    ...extra,
  });
}

/** Requests the simulator logged for one resource (path ends with it), in order. */
export function logged(sim: RunningSimulator, resource: string) {
  return sim.requestLog.filter((e) => e.path === `/libraries/${sim.directory}/${resource}`);
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

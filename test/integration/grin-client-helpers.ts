/** Shared set-up for the GRIN client integration tests: a client pointed at a running simulator. */
import { GrinClient, type GrinClientOptions } from '../../src/grin/client';
import { StaticTokenSource } from '../../src/grin/auth';
import type { RunningSimulator } from '../../devkit/simulator';

/** Small delays so retries stay fast in tests. */
export const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

export function clientFor(sim: RunningSimulator, extra: Partial<GrinClientOptions> = {}): GrinClient {
  return new GrinClient({
    baseUrl: sim.baseUrl,
    directory: sim.directory,
    tokens: new StaticTokenSource(sim.accessTokens[0]!),
    retry: FAST_RETRY,
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

/**
 * Where the Temporal server's time goes, from its own Prometheus metrics (`--metrics-port`): the
 * handling time of each request it served (`service_latency`, per service and operation) and of each
 * history task it ran (`task_latency_processing`), between two scrapes. These are latencies, not
 * CPU: they include waiting for the store and for a core, so read them as shares. Long polls (a
 * worker waiting for a task) and the server's own housekeeping namespace are left out.
 */

/** Sum and count of each `<metric>_sum` / `_count` series, keyed by its labels. */
export type Scrape = Map<string, { sum: number; count: number }>;

const LONG_POLLS = new Set([
  'PollWorkflowTaskQueue',
  'PollActivityTaskQueue',
  'PollNexusTaskQueue',
  'GetTaskQueueUserData',
  'PollWorkflowExecutionHistory',
  'ListNexusEndpoints',
]);

export async function scrapeServerTime(metricsUrl: string): Promise<Scrape> {
  const text = await (await fetch(metricsUrl)).text();
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    const m = /^(service_latency|task_latency_processing|persistence_latency)_(sum|count)\{(.*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[3].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.namespace && labels.namespace !== 'default') continue;
    if (LONG_POLLS.has(labels.operation ?? '')) continue;
    const key = `${m[1]} ${labels.service_name ?? '-'} ${labels.operation ?? '?'}`;
    const entry = out.get(key) ?? { sum: 0, count: 0 };
    if (m[2] === 'sum') entry.sum += Number(m[4]);
    else entry.count += Number(m[4]);
    out.set(key, entry);
  }
  return out;
}

/** Lines of the form `service operation: N per book, M ms per book (share)`, largest first, per metric. */
export function formatServerTime(before: Scrape, after: Scrape, books: number, top = 12): string[] {
  const rows = [...after].map(([key, a]) => {
    const b = before.get(key) ?? { sum: 0, count: 0 };
    const [metric, service, operation] = key.split(' ');
    return { metric, service, operation, seconds: a.sum - b.sum, count: a.count - b.count };
  });
  const lines: string[] = [];
  const titles: Record<string, string> = {
    service_latency: "requests handled (service_latency; the frontend's time includes the history and matching calls it makes)",
    task_latency_processing: 'history tasks run (task_latency_processing)',
    persistence_latency: 'store operations (persistence_latency)',
  };
  for (const metric of Object.keys(titles)) {
    const ofMetric = rows.filter((r) => r.metric === metric && r.count > 0).sort((x, y) => y.seconds - x.seconds);
    const total = ofMetric.reduce((n, r) => n + r.seconds, 0);
    lines.push(`server time, ${titles[metric]}: ${((total / books) * 1000).toFixed(1)} ms per book in all`);
    for (const r of ofMetric.slice(0, top)) {
      lines.push(
        `  ${r.service.padEnd(9)} ${r.operation.padEnd(44)} ${(r.count / books).toFixed(2).padStart(6)} per book ${((r.seconds / books) * 1000).toFixed(2).padStart(8)} ms per book ${((100 * r.seconds) / (total || 1)).toFixed(0).padStart(3)} %`,
      );
    }
  }
  return lines;
}

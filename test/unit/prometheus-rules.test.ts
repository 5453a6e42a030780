/**
 * deploy/prometheus-rules.yml is valid Prometheus (`promtool check rules`) and every alert in it
 * behaves as deploy/prometheus-rules.test.yml says (`promtool test rules`): fires on the series that
 * should raise it, after its `for:`, and not otherwise. promtool comes with Debian's `prometheus`
 * package (`apt-get install -y prometheus`; .ci/run installs it); where it is absent the test is
 * skipped and says so.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const DEPLOY = join(__dirname, '..', '..', 'deploy');
const RULES = join(DEPLOY, 'prometheus-rules.yml');
const RULE_TESTS = join(DEPLOY, 'prometheus-rules.test.yml');

const promtool = process.env.PROMTOOL || spawnSync('sh', ['-c', 'command -v promtool']).stdout?.toString().trim() || undefined;
if (!promtool)
  console.warn(
    'SKIPPED prometheus-rules: promtool is not installed (Debian: apt-get install -y prometheus; or set PROMTOOL=/path/to/promtool).',
  );
const maybe = promtool ? test : test.skip;

function run(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(promtool!, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

maybe('promtool accepts the rules file', () => {
  const r = run('check', 'rules', RULES);
  expect(r.output).toContain('SUCCESS');
  expect(r.status).toBe(0);
});

maybe('the rule tests pass', () => {
  const r = run('test', 'rules', RULE_TESTS);
  expect(r.output).toContain('SUCCESS');
  expect(r.status).toBe(0);
});

test('every alert in the rules file is exercised by the rule tests, firing at least once', () => {
  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
  const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
  const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
    tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const fired = new Set(
    tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)),
  );
  const quiet = new Set(
    tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname)),
  );
  expect(alerts.length).toBeGreaterThan(0);
  for (const alert of alerts) {
    expect({ alert, fires: fired.has(alert), quietCase: quiet.has(alert) }).toEqual({ alert, fires: true, quietCase: true });
  }
});

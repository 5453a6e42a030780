/**
 * Which pollers count as another live worker with our host id (host-identity.ts): the decision
 * alone, with the liveness of processes given; the refusal itself runs against a real Temporal
 * server in test/integration/admission.test.ts.
 */
import { HostIdInUseError, LIVE_POLL_SECONDS, otherLiveWorker, workerIdentity, type SeenPoller } from '../../src/host-identity';

const self = workerIdentity('scanner-1');
const poller = (identity: string, ageSeconds: number, onHostQueue = true): SeenPoller => ({ identity, ageSeconds, onHostQueue });
const ours = (over: { host?: string; boot?: string; pid?: number; run?: string }) =>
  `grin-pipeline host=${over.host ?? 'scanner-1'} machine=m boot=${over.boot ?? self.bootId} pid=${over.pid ?? 999999} run=${over.run ?? 'abcd1234'}`;
const nobodyAlive = { pidAlive: () => false, runningHere: () => false };

test('our own identity and workers with other host ids never count', () => {
  expect(self.identity).toContain('host=scanner-1');
  expect(
    otherLiveWorker([poller(self.identity, 0), poller(ours({ host: 'scanner-2', boot: 'other' }), 0)], self, nobodyAlive),
  ).toBeUndefined();
});

test('on this machine: live while its process exists (a worker killed and restarted at once is not refused for its ghost)', () => {
  const ghost = poller(ours({ pid: 4242 }), 5);
  expect(otherLiveWorker([ghost], self, nobodyAlive)).toBeUndefined();
  expect(otherLiveWorker([ghost], self, { pidAlive: (pid) => pid === 4242, runningHere: () => false })).toBe(ghost);
  // In this very process: live while its worker set runs.
  const earlier = poller(ours({ pid: process.pid, run: 'feed0001' }), 5);
  expect(otherLiveWorker([earlier], self, nobodyAlive)).toBeUndefined();
  expect(otherLiveWorker([earlier], self, { pidAlive: () => true, runningHere: (run) => run === 'feed0001' })).toBe(earlier);
});

test('on another machine (a clone: same host name, another boot): live while it polled lately', () => {
  const clone = poller(ours({ boot: 'ffffffff' }), 20);
  expect(otherLiveWorker([clone], self, nobodyAlive)).toBe(clone);
  expect(otherLiveWorker([{ ...clone, ageSeconds: LIVE_POLL_SECONDS + 1 }], self, nobodyAlive)).toBeUndefined();
});

test('a worker that does not say who it is counts on our host queue only', () => {
  const anonymous = poller('12345@some-machine', 3);
  expect(otherLiveWorker([anonymous], self, nobodyAlive)).toBe(anonymous);
  expect(otherLiveWorker([{ ...anonymous, onHostQueue: false }], self, nobodyAlive)).toBeUndefined();
});

test('the refusal names the other worker, the host id and what to do', () => {
  const err = new HostIdInUseError('scanner-1', 'files-scanner-1', poller(ours({ boot: 'ffffffff' }), 12));
  expect(err.message).toMatch(
    /^Host id "scanner-1" is in use by another live worker: grin-pipeline host=scanner-1 machine=m boot=ffffffff pid=999999 run=abcd1234 \(polled Temporal 12 s ago/,
  );
  expect(err.message).toContain('--host-id');
  expect(err.retryable).toBe(false);
  expect(err.exitCode).toBe(2);
});

import { workerGroup, type RunnableWorker } from '../../src/worker-group';

/** A stand-in with the Worker's run/shutdown/getState contract: run() resolves after shutdown(), or ends as told. */
class FakeWorker implements RunnableWorker {
  state = 'INITIALIZED';
  private end!: (err?: Error) => void;

  run(): Promise<void> {
    this.state = 'RUNNING';
    return new Promise<void>((resolve, reject) => {
      this.end = (err) => {
        this.state = err ? 'FAILED' : 'STOPPED';
        if (err) reject(err);
        else resolve();
      };
    });
  }
  shutdown(): void {
    this.state = 'STOPPING';
    setImmediate(() => this.end());
  }
  getState(): string {
    return this.state;
  }
  /** Stops without being asked (what a worker does on a fatal error, or when it ends for any other reason). */
  stopOnItsOwn(err?: Error): void {
    this.end(err);
  }
}

describe('workerGroup', () => {
  const members = (n: number) => Array.from({ length: n }, (_, i) => ({ worker: new FakeWorker(), taskQueue: `q${i}` }));

  it('stops every other worker and rejects when one worker fails', async () => {
    const m = members(4);
    const running = workerGroup(m).run();
    m[3].worker.stopOnItsOwn(new Error('poll failed for good'));
    await expect(running).rejects.toThrow('poll failed for good');
    expect(m.map(({ worker }) => worker.getState())).toEqual(['STOPPED', 'STOPPED', 'STOPPED', 'FAILED']);
  });

  it('treats a worker that stops without being asked as a failure, naming its task queue', async () => {
    const m = members(3);
    const running = workerGroup(m).run();
    m[1].worker.stopOnItsOwn();
    await expect(running).rejects.toThrow(/task queue q1 stopped on its own/);
    expect(m.every(({ worker }) => worker.getState() === 'STOPPED')).toBe(true);
  });

  it('resolves when shutdown() stops them all', async () => {
    const m = members(3);
    const group = workerGroup(m);
    const running = group.run();
    group.shutdown();
    await expect(running).resolves.toBeUndefined();
    expect(m.every(({ worker }) => worker.getState() === 'STOPPED')).toBe(true);
  });
});

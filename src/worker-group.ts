/**
 * Runs a process's Temporal workers as one: when any of them stops, the others are stopped too, and
 * run() rejects unless shutdown() asked for the stop. A process that went on claiming books on the
 * shared file queue while its own host queue had no worker left those books waiting for a pickup
 * that never came; stopping the whole process instead lets its supervisor start it again.
 */

/** What the group needs of a Worker (@temporalio/worker's Worker has all of it). */
export interface RunnableWorker {
  run(): Promise<void>;
  shutdown(): void;
  getState(): string;
}

export interface WorkerGroup {
  /** Resolves when every worker stopped after shutdown(); rejects when one stopped or failed first. */
  run(): Promise<void>;
  shutdown(): void;
}

export function workerGroup(members: { worker: RunnableWorker; taskQueue: string }[]): WorkerGroup {
  let stopping = false;
  const shutdown = (): void => {
    stopping = true;
    for (const { worker } of members) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    }
  };
  return {
    async run() {
      let failure: unknown;
      await Promise.all(
        members.map(async ({ worker, taskQueue }) => {
          try {
            await worker.run();
            if (!stopping)
              failure ??= new Error(
                `The worker for task queue ${taskQueue} stopped on its own; this process's other workers were stopped too.`,
              );
          } catch (err) {
            failure ??= err;
          } finally {
            shutdown();
          }
        }),
      );
      if (failure !== undefined) throw failure;
    },
    shutdown,
  };
}

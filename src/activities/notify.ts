/**
 * `sendBatchNotification`: a finished batch's counts go to the operator's webhook and/or mail
 * (src/notify). Best effort: it queues the message and returns at once, whatever the delivery does,
 * so it never fails or holds a batch; a retried attempt may send the message twice.
 */
import type { ActivityDeps } from './deps';

export function createNotifyActivities(deps: Pick<ActivityDeps, 'notifier'>) {
  return {
    async sendBatchNotification(input: {
      batchId: string;
      total: number;
      stored: number;
      failed: number;
      cancelled: number;
    }): Promise<void> {
      deps.notifier?.send({ kind: 'batch-finished', ...input });
    },
  };
}

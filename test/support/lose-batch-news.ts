/**
 * A workflow interceptor for tests: books of a batch whose id contains `lost-news` never tell their
 * batch that they settled (the `notifyBatch` activity or local activity is not even scheduled), as if every signal
 * were lost. Such a batch can only finish through its periodic reconcile. Bundled into the test's
 * workflow code with `workflowInterceptorModules`; deterministic, like any workflow code.
 */
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const LOST_NEWS = 'lost-news';

const lost = (input: { activityType: string; args: unknown[] }) =>
  input.activityType === 'notifyBatch' &&
  !!(input.args[0] as { batchWorkflowId?: string } | undefined)?.batchWorkflowId?.includes(LOST_NEWS);

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      // Books before the `lean-book` patch notify by activity, books after it by local activity.
      async scheduleActivity(input, next) {
        return lost(input) ? 'delivered' : next(input);
      },
      async scheduleLocalActivity(input, next) {
        return lost(input) ? 'delivered' : next(input);
      },
    },
  ],
});

/**
 * A workflow interceptor for tests: books of a batch whose id contains `lost-news` never tell their
 * batch that they settled (the `notifyBatch` activity is not even scheduled), as if every signal
 * were lost. Such a batch can only finish through its periodic reconcile. Bundled into the test's
 * workflow code with `workflowInterceptorModules`; deterministic, like any workflow code.
 */
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const LOST_NEWS = 'lost-news';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      async scheduleActivity(input, next) {
        const arg = input.args[0] as { batchWorkflowId?: string } | undefined;
        if (input.activityType === 'notifyBatch' && arg?.batchWorkflowId?.includes(LOST_NEWS)) return 'delivered';
        return next(input);
      },
    },
  ],
});

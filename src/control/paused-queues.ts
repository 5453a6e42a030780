/** The pipeline queues an operator pause holds back now (none when the control file cannot be read). */
import type { PipelineConfig } from '../config/types';
import { PAUSED_QUEUE_ROLE, type QueueRole } from '../liveness/stalls';
import { PAUSE_TARGETS, readOperatorControl } from './operator-control';

export async function pausedQueueRoles(config: Pick<PipelineConfig, 'pipelineDir'>): Promise<Set<QueueRole>> {
  const control = await readOperatorControl(config.pipelineDir).catch(() => undefined);
  return new Set(control ? PAUSE_TARGETS.filter((t) => control.pause[t]).map((t) => PAUSED_QUEUE_ROLE[t]) : []);
}

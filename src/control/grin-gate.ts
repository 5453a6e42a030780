/**
 * Activity slots for the GRIN queue that the operator can hold and pace while workers run: a slot
 * (and only then does the worker poll for a GRIN task) is granted while GRIN calls are not paused,
 * fewer than `limit` run, and the operator's rate, if set, allows the next start. A task never taken
 * is never attempted, so a pause or a slow rate burns no retry and holds no activity open: the
 * tasks wait in Temporal's queue. The server-side rate (grin.rateLimitPerSecond) stays the ceiling.
 */
import type { ActivitySlotInfo, CustomSlotSupplier, WorkerTuner } from '@temporalio/worker';
import { SlotWaiters } from '../common/slot-waiters';

export class GrinGate {
  private used = 0;
  private paused = false;
  private ratePerSecond: number | undefined;
  /** The earliest time (epoch ms) the next slot may be granted under the operator's rate. */
  private nextAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiters = new SlotWaiters();

  constructor(
    readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`GrinGate limit must be a positive integer, got ${limit}`);
  }

  /** The operator's controls: `paused` holds every new start; `ratePerSecond` (undefined: none) paces them. */
  set(controls: { paused: boolean; ratePerSecond?: number }): void {
    this.paused = controls.paused;
    if (controls.ratePerSecond !== this.ratePerSecond) {
      this.ratePerSecond = controls.ratePerSecond;
      // A new rate counts from now: a slower one does not wait out the old spacing, nor a faster one.
      this.nextAt = 0;
    }
    this.wake();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Slots granted and not given back. */
  get inUse(): number {
    return this.used;
  }

  tryReserve(): boolean {
    if (!this.canGrant()) return false;
    this.grant();
    return true;
  }

  reserve(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.waiters.size === 0 && this.tryReserve()) return Promise.resolve();
    const granted = this.waiters.wait(signal);
    this.wake();
    return granted;
  }

  release(): void {
    if (this.used > 0) this.used--;
    this.wake();
  }

  private canGrant(): boolean {
    return !this.paused && this.used < this.limit && this.now() >= this.nextAt;
  }

  private grant(): void {
    this.used++;
    if (this.ratePerSecond !== undefined) this.nextAt = this.now() + 1000 / this.ratePerSecond;
  }

  private wake(): void {
    this.waiters.serve(() => this.tryReserve());
    // Paced: look again when the next start is due (a pause or a full set of slots wakes on change).
    if (this.waiters.size > 0 && !this.paused && this.used < this.limit && !this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.wake();
        },
        Math.max(1, this.nextAt - this.now()),
      );
      this.timer.unref();
    }
  }
}

type Permit = Record<string, never>;

export function grinGateSlots(gate: GrinGate): CustomSlotSupplier<ActivitySlotInfo> {
  return {
    type: 'custom',
    reserveSlot: async (_ctx, abortSignal): Promise<Permit> => {
      await gate.reserve(abortSignal);
      return {};
    },
    tryReserveSlot: (): Permit | null => (gate.tryReserve() ? {} : null),
    markSlotUsed: () => undefined,
    releaseSlot: () => gate.release(),
  };
}

/** The GRIN-queue worker's tuner: the gate's slots for activities; it runs no workflows. */
export function grinGateTuner(gate: GrinGate): WorkerTuner {
  return {
    activityTaskSlotSupplier: grinGateSlots(gate),
    workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 2 },
    localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
  };
}

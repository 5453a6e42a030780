/**
 * First come, first served waiters for a slot, each abortable by its own signal: what a worker's
 * custom slot supplier needs (`reserveSlot` gets an AbortSignal; p-limit's queue cannot drop a
 * waiter whose caller gave up).
 */
interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class SlotWaiters {
  private readonly queue: Waiter[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Resolves once `serve` grants this waiter a slot; rejects with the signal's reason if it is aborted first. */
  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
    });
  }

  /** Grants waiters in order for as long as `take` (which takes a slot when it returns true) allows. */
  serve(take: () => boolean): void {
    while (this.queue.length > 0 && take()) {
      const waiter = this.queue.shift()!;
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.resolve();
    }
  }
}

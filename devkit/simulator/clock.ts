/**
 * The simulator's clocks. Simulated time drives GRIN's conversion machinery and can run faster
 * than real time (`speed` simulated seconds per real second) or be pushed forward by tests.
 * Wall time (real time plus manual advances, never sped up) drives OAuth token expiry, because
 * clients measure token lifetimes with their own real clocks.
 */
export class SimClock {
  private readonly realStart = Date.now();
  private readonly simStart: number;
  private advancedMs = 0;

  constructor(
    private readonly speed = 1,
    startTime?: Date,
  ) {
    if (!(speed > 0)) throw new Error(`clock speed must be a positive number of simulated seconds per real second, got ${speed}`);
    this.simStart = (startTime ?? new Date()).getTime();
  }

  /** Simulated time, epoch milliseconds. */
  now(): number {
    return this.simStart + (Date.now() - this.realStart) * this.speed + this.advancedMs;
  }

  /** When the simulated clock started, epoch milliseconds. */
  startedAt(): number {
    return this.simStart;
  }

  /** Real time plus manual advances (not scaled by the speed). */
  wallNow(): number {
    return Date.now() + this.advancedMs;
  }

  advance(simSeconds: number): void {
    if (!(simSeconds >= 0)) throw new Error(`advance() needs a non-negative number of seconds, got ${simSeconds}`);
    this.advancedMs += simSeconds * 1000;
  }
}

/** GRIN's date format, `YYYY/MM/DD HH:MM`, in UTC. */
export function formatGrinDate(epochMs: number | undefined): string {
  if (epochMs === undefined) return '';
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
}

import { log, type Engine } from './engine';

/**
 * Work the engine does by itself every so often (pruning WAL archives, capturing running
 * branches): one round at a time, never while the engine stops, counted as a background job
 * while it runs. A failed round is logged; the next one tries again.
 */
export abstract class Rounds {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;

  constructor(protected readonly engine: Engine, private readonly what: string) {}

  protected abstract round(): Promise<void>;

  /** Run a round every `ms` from now on (the engine's exit does not wait for the timer). */
  protected every(ms: number): void {
    this.timer = setInterval(() => this.schedule(), ms);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get running(): number {
    return this.current ? 1 : 0;
  }

  /** A round soon, unless one runs already. */
  schedule(): void {
    if (this.current || this.engine.stopping) return;
    this.current = this.round().catch((err) => log(`${this.what} failed: ${(err as Error).message}`))
      .finally(() => (this.current = undefined));
  }
}

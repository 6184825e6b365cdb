/** How far a push or pull has got, in bytes and time left, for the operation's progress. */
import type { Progress } from '../engine';

const MB = 1024 * 1024;

export class Tally {
  chunks = 0;
  chunksMoved = 0;
  bytesMoved = 0;
  /** Bytes of local snapshots read (SnapshotReader.bytesRead). */
  bytesRead = 0;
  private readonly started = Date.now();
  private lastReport = 0;

  constructor(private readonly progress: Progress, private readonly verb: 'pushing' | 'pulling') {}

  /** `done` of `total` bytes; `what` names the step. Reported at most twice a second. */
  report(what: string, done: number, total: number, force = false): void {
    const t = Date.now();
    if (!force && t - this.lastReport < 500) return;
    this.lastReport = t;
    const elapsed = (t - this.started) / 1000;
    const left = done > 0 && total > done ? ((total - done) * elapsed) / done : 0;
    const eta = left > 0 ? `, about ${left < 90 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`} left` : '';
    const pct = total > 0 ? Math.min(99, Math.floor((done / total) * 100)) : undefined;
    this.progress.report(`${this.verb} ${what}: ${mb(done)} of ${mb(total)}${this.bytesMoved ? `, ${mb(this.bytesMoved)} ${this.verb === 'pushing' ? 'sent' : 'received'}` : ''}${eta}`, pct);
  }

  /** A step with no byte count of its own (a restore of a local snapshot, a capture). */
  say(what: string, doing: string): void {
    this.progress.report(`${this.verb} ${what}: ${doing}`);
  }

  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  private readonly steps: string[] = [];

  /** Run one step and note how long it took, for the engine log's line about the transfer. */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      this.steps.push(`${name} ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    }
  }

  /** Note a part of a step that took since `t0` (Date.now()), for the same line. */
  since(name: string, t0: number): void {
    this.steps.push(`${name} ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  }

  /** One line for the engine log: totals, and where the time went. */
  summary(what: string): string {
    return `${this.verb} ${what}: ${this.seconds.toFixed(2)} s, ${this.chunksMoved} of ${this.chunks} chunks (${mb(this.bytesMoved)}) moved, ${mb(this.bytesRead)} read; ${this.steps.join(', ')}`;
  }
}

export const mb = (n: number) => `${(n / MB).toFixed(n < 10 * MB ? 1 : 0)} MB`;

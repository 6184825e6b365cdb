import { EngineError } from './errors';

/**
 * One operation at a time per key (a container or a template). A second
 * operation is refused at once with Busy rather than queued, so a user who
 * clicks "activate" twice learns that the first one is still running.
 */
export class Locks {
  private readonly held = new Map<string, string>();
  /** Keys held by background work that an operation waits for instead of being refused. */
  private readonly yielding = new Map<string, Promise<void>>();

  acquire(key: string, label: string, op: string): () => void {
    const running = this.held.get(key);
    if (running) {
      throw new EngineError('Busy', `${label} is busy: "${running}" is still running. Wait for it to finish and try again.`);
    }
    this.held.set(key, op);
    return () => this.held.delete(key);
  }

  /** Hold `key` for background work, taken at once (synchronously): an operation that wants
   *  the key meanwhile waits for it to end (`with`). */
  background(key: string, label: string, op: string, fn: () => Promise<void>): Promise<void> {
    const release = this.acquire(key, label, op);
    let done!: () => void;
    this.yielding.set(key, new Promise((r) => (done = r)));
    return fn().finally(() => {
      this.yielding.delete(key);
      release();
      done();
    });
  }

  /** Is an operation running on `key`? (A container's database may be down on purpose then.) */
  isHeld(key: string): boolean {
    return this.held.has(key);
  }

  async with<T>(key: string, label: string, op: string, fn: () => Promise<T>): Promise<T> {
    // Background work the engine started by itself (a capture after a point-in-time restore)
    // is short and was not the user's doing: wait for it rather than answer Busy.
    for (let w = this.yielding.get(key); w; w = this.yielding.get(key)) await w;
    const release = this.acquire(key, label, op);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

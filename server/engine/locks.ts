import { EngineError } from './errors';

/**
 * One operation at a time per key (a container or a template). A second
 * operation is refused at once with Busy rather than queued, so a user who
 * clicks "activate" twice learns that the first one is still running.
 */
export class Locks {
  private readonly held = new Map<string, string>();

  acquire(key: string, label: string, op: string): () => void {
    const running = this.held.get(key);
    if (running) {
      throw new EngineError('Busy', `${label} is busy: "${running}" is still running. Wait for it to finish and try again.`);
    }
    this.held.set(key, op);
    return () => this.held.delete(key);
  }

  /** Is an operation running on `key`? (A container's database may be down on purpose then.) */
  isHeld(key: string): boolean {
    return this.held.has(key);
  }

  async with<T>(key: string, label: string, op: string, fn: () => Promise<T>): Promise<T> {
    const release = this.acquire(key, label, op);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

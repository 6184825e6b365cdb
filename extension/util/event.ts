import { toDisposable, type IDisposable } from './disposable';

/** A listener registration, shaped like `vscode.Event` so adapters can pass it through. */
export type Event<T> = (listener: (value: T) => void) => IDisposable;

/** A minimal `vscode.EventEmitter` for code that must not import `vscode` (it is tested under node:test). */
export class Emitter<T> implements IDisposable {
  private readonly listeners = new Set<(value: T) => void>();

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return toDisposable(() => this.listeners.delete(listener));
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try { listener(value); } catch { /* a broken listener must not starve the others */ }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}

/** Calls `fn` once after `ms` of quiet; bursts of engine notifications become one refresh. */
export function debounce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const call = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => { timer = undefined; fn(); }, ms);
  };
  call.cancel = () => { if (timer) clearTimeout(timer); timer = undefined; };
  return call;
}

/** Wraps a load so that a call while one runs gets that one, and queues exactly one more after it. */
export function coalesce(load: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = load().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        void run();
      }
    });
    return running;
  };
  return run;
}

/**
 * One disposable discipline for the whole extension, after
 * vscode-pull-request-github's src/common/lifecycle.ts: every object that owns
 * listeners, timers or processes extends `Disposable` and registers what it owns,
 * so disposing the root (the extension context) releases everything once.
 * Structural, so it works with `vscode.Disposable` without importing `vscode`.
 */
export interface IDisposable {
  dispose(): void;
}

export function toDisposable(fn: () => void): IDisposable {
  let done = false;
  return { dispose: () => { if (!done) { done = true; fn(); } } };
}

export function disposeAll(items: Iterable<IDisposable>): void {
  for (const item of [...items].reverse()) {
    try { item.dispose(); } catch { /* one failing dispose must not keep the others alive */ }
  }
}

export abstract class Disposable implements IDisposable {
  private readonly owned = new Set<IDisposable>();
  private disposedFlag = false;

  protected get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** Takes ownership of `d`; it is disposed with this object (at once if that already happened). */
  protected register<T extends IDisposable>(d: T): T {
    if (this.disposedFlag) d.dispose();
    else this.owned.add(d);
    return d;
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    disposeAll(this.owned);
    this.owned.clear();
  }
}

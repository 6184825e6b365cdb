/**
 * Settling HEAD changes. A rebase or a bisect moves HEAD many times in a
 * second; the data branch should move once, to where HEAD ends up. Every
 * observed HEAD restarts a quiet timer per repository; when it expires the
 * settled HEAD is compared with the last settled one, and a move is reported
 * only when they differ. The first HEAD seen in a repository is its baseline:
 * opening a window is not a checkout. No `vscode`; the clock is injectable so
 * the timing is unit-tested.
 */
import type { IDisposable } from '../util/disposable';

export interface Head {
  /** The checked-out branch; undefined when HEAD is detached. */
  branch?: string;
  /** The commit HEAD points at; undefined on an unborn branch. */
  commit?: string;
}

export interface HeadMove {
  repo: string;
  /** The HEAD settled before; undefined only when nothing was seen before (never reported). */
  from: Head;
  to: Head;
}

export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const SETTLE_MS = 600;

export function sameHead(a: Head | undefined, b: Head | undefined): boolean {
  return (a?.branch ?? '') === (b?.branch ?? '') && (a?.commit ?? '') === (b?.commit ?? '');
}

export class HeadSettler implements IDisposable {
  private readonly settled = new Map<string, Head>();
  private readonly pending = new Map<string, { head: Head; timer: unknown }>();

  constructor(
    private readonly onMove: (move: HeadMove) => void,
    private readonly ms = SETTLE_MS,
    private readonly clock: Clock = realClock,
  ) {}

  /** Records the HEAD a repository shows now. An undefined HEAD (the repository is still loading) is ignored. */
  observe(repo: string, head: Head | undefined): void {
    if (!head || (head.branch === undefined && head.commit === undefined)) return;
    const copy: Head = { branch: head.branch, commit: head.commit };
    if (!this.settled.has(repo) && !this.pending.has(repo)) {
      this.settled.set(repo, copy);
      return;
    }
    const previous = this.pending.get(repo);
    if (previous) this.clock.clearTimeout(previous.timer);
    const timer = this.clock.setTimeout(() => this.settle(repo), this.ms);
    this.pending.set(repo, { head: copy, timer });
  }

  /** The last settled HEAD of a repository. */
  current(repo: string): Head | undefined {
    return this.settled.get(repo);
  }

  /** A repository closed: forget it, so reopening it starts from a new baseline. */
  forget(repo: string): void {
    const p = this.pending.get(repo);
    if (p) this.clock.clearTimeout(p.timer);
    this.pending.delete(repo);
    this.settled.delete(repo);
  }

  private settle(repo: string): void {
    const p = this.pending.get(repo);
    if (!p) return;
    this.pending.delete(repo);
    const from = this.settled.get(repo)!;
    if (sameHead(from, p.head)) return;
    this.settled.set(repo, p.head);
    this.onMove({ repo, from, to: p.head });
  }

  dispose(): void {
    for (const p of this.pending.values()) this.clock.clearTimeout(p.timer);
    this.pending.clear();
  }
}

/** What a settled move was: a checkout (another branch, or a detached commit), a commit on the same branch, or neither. */
export type MoveKind = 'checkout' | 'commit' | 'other';

/** `parents` are the new commit's parents (git's answer); a commit adds one commit whose parent is the old HEAD. */
export function classifyMove(move: HeadMove, parents: string[] | undefined): MoveKind {
  const { from, to } = move;
  if ((from.branch ?? '') !== (to.branch ?? '') || (!to.branch && from.commit !== to.commit)) return 'checkout';
  if (to.branch && from.commit !== to.commit && to.commit) {
    if (!from.commit && parents && parents.length === 0) return 'commit'; // the first commit on an unborn branch
    if (from.commit && parents?.includes(from.commit)) return 'commit';
  }
  return 'other';
}

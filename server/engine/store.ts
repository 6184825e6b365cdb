import { open, type Database, type RootDatabase } from 'lmdb';
import type {
  BookmarkRecord, BranchRecord, ContainerRecord, EventRecord, StoredJournalEntry, TemplateRecord, UserRecord,
} from './records';

/**
 * All metadata, in LMDB. Every write goes through tx(), a synchronous
 * transaction that is flushed to disk before it returns, so what a client was
 * told has happened survives a kill -9.
 */
export class Store {
  readonly root: RootDatabase;
  readonly templates: Database<TemplateRecord, string>;
  readonly containers: Database<ContainerRecord, string>;
  readonly branches: Database<BranchRecord, string>;
  readonly bookmarks: Database<BookmarkRecord, string>;
  readonly events: Database<EventRecord, [string, number]>;
  readonly journal: Database<StoredJournalEntry, string>;
  readonly meta: Database<unknown, string>;
  readonly users: Database<UserRecord, string>;
  /** snapshot id → the container whose own volume it was captured from (Engine.isOwnSnapshot). */
  readonly captures: Database<string, string>;
  /** Bumped by every tx(): what a cache read at one version is still true at. */
  private version = 0;
  private bookmarkCache: { version: number; list: readonly BookmarkRecord[] } | undefined;

  constructor(dir: string) {
    this.root = open({ path: dir, compression: false });
    this.templates = this.root.openDB({ name: 'templates' });
    this.containers = this.root.openDB({ name: 'containers' });
    this.branches = this.root.openDB({ name: 'branches' });
    this.bookmarks = this.root.openDB({ name: 'bookmarks' });
    this.events = this.root.openDB({ name: 'events' });
    this.journal = this.root.openDB({ name: 'journal' });
    this.meta = this.root.openDB({ name: 'meta' });
    this.users = this.root.openDB({ name: 'users' });
    this.captures = this.root.openDB({ name: 'captures' });
  }

  tx<T>(fn: () => T): T {
    this.version++;
    try {
      return this.root.transactionSync(fn);
    } finally {
      this.version++; // also after: a read between the two must not be cached as the new state
    }
  }

  /** Every bookmark, oldest first (ties by id). Listing is the hot read with thousands
   *  of bookmarks, so the sorted list is kept until the next write. Do not mutate it. */
  bookmarksByTime(): readonly BookmarkRecord[] {
    if (this.bookmarkCache?.version === this.version) return this.bookmarkCache.list;
    const list = this.all(this.bookmarks).sort((a, b) =>
      // ISO timestamps sort as plain strings; localeCompare is needlessly slow on 10,000 of them.
      (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.bookmarkCache = { version: this.version, list };
    return list;
  }

  all<V>(db: Database<V, string>): V[] {
    return [...db.getRange()].map((e) => e.value);
  }

  branchesOf(containerId: string): BranchRecord[] {
    return this.all(this.branches).filter((b) => b.containerId === containerId);
  }

  bookmarksOf(containerId: string): BookmarkRecord[] {
    return this.all(this.bookmarks).filter((b) => b.containerId === containerId);
  }

  eventsOf(containerId: string, limit: number): EventRecord[] {
    const range = this.events.getRange({ start: [containerId, Infinity], end: [containerId, -1], reverse: true, limit });
    return [...range].map((e) => e.value).reverse();
  }

  nextEventSeq(containerId: string): number {
    const last = [...this.events.getRange({ start: [containerId, Infinity], end: [containerId, -1], reverse: true, limit: 1 })];
    return last.length ? last[0].value.seq + 1 : 1;
  }

  close(): Promise<void> {
    return this.root.close();
  }
}

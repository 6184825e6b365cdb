import { open, type Database, type RootDatabase } from 'lmdb';
import type {
  BookmarkRecord, BranchRecord, ContainerRecord, EventRecord, JournalRecord, TemplateRecord, UserRecord,
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
  readonly journal: Database<JournalRecord, string>;
  readonly meta: Database<unknown, string>;
  readonly users: Database<UserRecord, string>;

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
  }

  tx<T>(fn: () => T): T {
    return this.root.transactionSync(fn);
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

import { open, type Database, type RootDatabase } from 'lmdb';
import type {
  BookmarkRecord, BranchRecord, ContainerRecord, EventRecord, RemoteRecord, SpanRecord, StoredJournalEntry, TemplateRecord, UserRecord,
} from './records';

/**
 * All metadata, in LMDB. Every write goes through tx(), a synchronous
 * transaction that is flushed to disk before it returns, so what a client was
 * told has happened survives a kill -9.
 */
export class Store {
  private readonly root: RootDatabase;
  private readonly templates: Database<TemplateRecord, string>;
  private readonly containers: Database<ContainerRecord, string>;
  private readonly branches: Database<BranchRecord, string>;
  private readonly bookmarks: Database<BookmarkRecord, string>;
  private readonly events: Database<EventRecord, [string, number]>;
  private readonly journal: Database<StoredJournalEntry, string>;
  private readonly meta: Database<unknown, string>;
  private readonly users: Database<UserRecord, string>;
  /** snapshot id → the container whose own volume it was captured from (Engine.isOwnSnapshot). */
  private readonly captures: Database<string, string>;
  private readonly spans: Database<SpanRecord, string>;
  private readonly remotes: Database<RemoteRecord, string>;
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
    this.spans = this.root.openDB({ name: 'spans' });
    this.remotes = this.root.openDB({ name: 'remotes' });
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
    const list = this.allBookmarks().sort((a, b) =>
      // ISO timestamps sort as plain strings; localeCompare is needlessly slow on 10,000 of them.
      (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.bookmarkCache = { version: this.version, list };
    return list;
  }

  // Reads, and writes to call inside tx(): one of each per kind of record, named after it.

  template(id: string): TemplateRecord | undefined { return this.templates.get(id); }
  allTemplates(): TemplateRecord[] { return all(this.templates); }
  putTemplate(t: TemplateRecord): void { this.templates.putSync(t.id, t); }
  removeTemplate(id: string): void { this.templates.removeSync(id); }

  container(id: string): ContainerRecord | undefined { return this.containers.get(id); }
  allContainers(): ContainerRecord[] { return all(this.containers); }
  putContainer(c: ContainerRecord): void { this.containers.putSync(c.id, c); }
  removeContainer(id: string): void { this.containers.removeSync(id); }

  branch(id: string): BranchRecord | undefined { return this.branches.get(id); }
  allBranches(): BranchRecord[] { return all(this.branches); }
  putBranch(b: BranchRecord): void { this.branches.putSync(b.id, b); }
  removeBranch(id: string): void { this.branches.removeSync(id); }

  bookmark(id: string): BookmarkRecord | undefined { return this.bookmarks.get(id); }
  allBookmarks(): BookmarkRecord[] { return all(this.bookmarks); }
  putBookmark(b: BookmarkRecord): void { this.bookmarks.putSync(b.id, b); }
  removeBookmark(id: string): void { this.bookmarks.removeSync(id); }

  user(name: string): UserRecord | undefined { return this.users.get(name); }
  allUsers(): UserRecord[] { return all(this.users); }
  putUser(u: UserRecord): void { this.users.putSync(u.name, u); }
  removeUser(name: string): void { this.users.removeSync(name); }

  /** The container whose own volume the snapshot was captured from, if it was recorded. */
  capturedFrom(snapshotId: string): string | undefined { return this.captures.get(snapshotId); }
  putCapture(snapshotId: string, containerId: string): void { this.captures.putSync(snapshotId, containerId); }
  removeCapture(snapshotId: string): void { this.captures.removeSync(snapshotId); }

  remote(name: string): RemoteRecord | undefined { return this.remotes.get(name); }
  allRemotes(): RemoteRecord[] { return all(this.remotes); }
  putRemote(r: RemoteRecord): void { this.remotes.putSync(r.name, r); }
  removeRemote(name: string): void { this.remotes.removeSync(name); }

  span(id: string): SpanRecord | undefined { return this.spans.get(id); }
  allSpans(): SpanRecord[] { return all(this.spans); }
  putSpan(s: SpanRecord): void { this.spans.putSync(s.id, s); }
  removeSpan(id: string): void { this.spans.removeSync(id); }

  /** A branch's spans, oldest first. */
  spansOf(branchId: string): SpanRecord[] {
    return this.allSpans().filter((s) => s.branchId === branchId).sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0));
  }

  /** Entries as stored; journal.ts reads them as their operations' records. */
  allJournalEntries(): StoredJournalEntry[] { return all(this.journal); }
  putJournalEntry(e: StoredJournalEntry): void { this.journal.putSync(e.id, e); }
  removeJournalEntry(id: string): void { this.journal.removeSync(id); }

  metaValue(key: string): unknown { return this.meta.get(key); }
  putMetaValue(key: string, value: unknown): void { this.meta.putSync(key, value); }

  putEvent(e: EventRecord): void { this.events.putSync([e.containerId, e.seq], e); }
  removeEventsOf(containerId: string): void {
    for (const e of [...this.events.getRange({ start: [containerId, -1], end: [containerId, Infinity] })]) this.events.removeSync(e.key);
  }

  branchesOf(containerId: string): BranchRecord[] {
    return this.allBranches().filter((b) => b.containerId === containerId);
  }

  bookmarksOf(containerId: string): BookmarkRecord[] {
    return this.allBookmarks().filter((b) => b.containerId === containerId);
  }

  event(containerId: string, seq: number): EventRecord | undefined { return this.events.get([containerId, seq]); }

  /** Up to `limit` of the container's events, newest first, all older than seq `before`
   *  when it is given. */
  eventsOf(containerId: string, limit: number, before = Infinity): EventRecord[] {
    // Seqs are whole numbers: starting half a step below `before` leaves it out, however the range treats its start.
    const range = this.events.getRange({ start: [containerId, before - 0.5], end: [containerId, -1], reverse: true, limit });
    return [...range].map((e) => e.value);
  }

  nextEventSeq(containerId: string): number {
    const last = [...this.events.getRange({ start: [containerId, Infinity], end: [containerId, -1], reverse: true, limit: 1 })];
    return last.length ? last[0].value.seq + 1 : 1;
  }

  close(): Promise<void> {
    return this.root.close();
  }
}

function all<V>(db: Database<V, string>): V[] {
  return [...db.getRange()].map((e) => e.value);
}

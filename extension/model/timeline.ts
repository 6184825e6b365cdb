/**
 * Engine timeline → the timeline webview's model: one lane per branch, one
 * row per event (newest first), bookmarks as points. Pure, so node:test
 * checks the layout against a real engine's events.
 */
import type { BookmarkInfo, BranchInfo, ContainerInfo, TimelineEvent, TimelinePage } from '../../server/protocol';
import type { TimelineBookmark, TimelineLane, TimelineModel, TimelineRow } from '../../webview/protocol';

/** Events per page the panel asks the engine for. */
export const TIMELINE_PAGE = 500;

export function timelineModel(input: {
  container: ContainerInfo;
  branches: BranchInfo[];
  events: TimelineEvent[];
  bookmarks: BookmarkInfo[];
  user?: string;
  /** The engine has older events than these (the webview offers to load them). */
  older?: boolean;
  /** What each branch can be restored to, from the newest page. */
  restorable?: TimelinePage['restorable'];
  now?: Date;
}): TimelineModel {
  const { container, branches, user } = input;
  const events = [...input.events].sort((a, b) => a.seq - b.seq);
  const lanes = layoutLanes(container.activeBranch, branches, events);
  const laneOf = new Map(lanes.map((l) => [l.branch, l.index]));

  // A lane lives from its branch's creation to its deletion (or now). When the
  // creation fell outside the window, it lives from the window's start.
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  for (const e of events) {
    if (e.kind === 'branch-created' || (e.kind === 'container-created' && !first.has(e.branch))) first.set(e.branch, e.seq);
    if (e.kind === 'branch-deleted') last.set(e.branch, e.seq);
  }
  const aliveAt = (seq: number): number[] => lanes
    .filter((l) => (first.get(l.branch) ?? -Infinity) <= seq && seq <= (last.get(l.branch) ?? Infinity))
    .map((l) => l.index);

  const rows: TimelineRow[] = events.reverse().map((e) => ({
    seq: e.seq,
    at: e.at,
    user: e.user,
    kind: e.kind,
    branch: e.branch,
    lane: laneOf.get(e.branch) ?? 0,
    title: eventTitle(e),
    detail: e.detail,
    bookmarkId: e.bookmark?.id,
    alive: aliveAt(e.seq),
  }));

  const bookmarks: Record<string, TimelineBookmark> = {};
  for (const e of events) {
    // Bookmarks the engine no longer has still appear in old events.
    if (e.bookmark) bookmarks[e.bookmark.id] = deletedBookmark(e, container);
  }
  for (const bm of input.bookmarks) {
    bookmarks[bm.id] = {
      id: bm.id, name: bm.name, branch: bm.branch, container: bm.container, template: bm.template, owner: bm.owner,
      shared: bm.shared, mine: user === undefined || bm.owner === user, tags: bm.tags, note: bm.note,
      createdAt: bm.createdAt, consistency: bm.consistency, asOf: bm.asOf, git: bm.git, deleted: false,
    };
  }

  return {
    container: container.name,
    template: container.template,
    activeBranch: container.activeBranch,
    port: container.port,
    lanes,
    rows,
    bookmarks,
    older: input.older ?? false,
    restorable: (input.restorable ?? []).filter((r) => laneOf.has(r.branch)).map((r) => ({ ...r, lane: laneOf.get(r.branch)! })),
    generatedAt: (input.now ?? new Date()).toISOString(),
  };
}

/** Active branch first, then live branches by first appearance, then deleted ones. */
function layoutLanes(active: string, branches: BranchInfo[], events: TimelineEvent[]): TimelineLane[] {
  const live = new Set(branches.map((b) => b.name));
  const order: string[] = [active];
  for (const e of events) if (!order.includes(e.branch) && live.has(e.branch)) order.push(e.branch);
  for (const b of [...branches].sort((x, y) => x.createdAt.localeCompare(y.createdAt))) if (!order.includes(b.name)) order.push(b.name);
  for (const e of events) if (!order.includes(e.branch)) order.push(e.branch);
  return order.map((branch, index) => ({ branch, index, active: branch === active, deleted: !live.has(branch) }));
}

function deletedBookmark(e: TimelineEvent, c: ContainerInfo): TimelineBookmark {
  return {
    id: e.bookmark!.id, name: e.bookmark!.name, branch: e.branch, container: c.name, template: c.template, owner: e.user,
    shared: false, mine: false, tags: [], note: '', createdAt: e.at, consistency: 'clean-shutdown', deleted: true,
  };
}

export function eventTitle(e: TimelineEvent): string {
  const bm = e.bookmark ? `“${e.bookmark.name}”` : '';
  switch (e.kind) {
    case 'container-created': return `Container ${e.container} created`;
    case 'branch-created': return `Branch ${e.branch} created`;
    case 'branch-activated': return `Activated ${e.branch}`;
    case 'branch-deleted': return `Branch ${e.branch} deleted`;
    case 'branch-linked': return `Branch ${e.branch} linked to git${e.detail ? ` (${e.detail})` : ''}`;
    case 'branch-unlinked': return `Branch ${e.branch} unlinked from git`;
    case 'bookmark-created': return `Bookmarked ${bm}`;
    case 'bookmark-shared': return `Shared ${bm}`;
    case 'bookmark-unshared': return `Unshared ${bm}`;
    case 'bookmark-tagged': return `Tagged ${bm}`;
    case 'bookmark-deleted': return `Deleted bookmark ${bm}`;
    case 'restored': return e.moment ? `Restored to ${new Date(e.moment).toLocaleString()}` : `Restored to ${bm}`;
    case 'reset': return 'Reset';
    case 'refreshed': return 'Refreshed';
    // An engine newer than this extension may log kinds it does not know yet.
    default: return String(e.kind).replace(/-/g, ' ');
  }
}

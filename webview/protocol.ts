/**
 * The one module of messages between the timeline panel (extension side) and
 * the timeline webview (browser side), after gitkraken/vscode-gitlens's
 * src/webviews/protocol.ts. Both sides import it; neither declares messages of
 * its own. No `vscode` and no DOM here: the extension, the webview and
 * node:test all compile it.
 *
 * Handshake: the webview posts `ready` once its script runs; only then does
 * the panel post `model` (and again after every engine change, and after
 * each `loadOlder`, with the older page added below the rows it had). Messages sent
 * before `ready` would be lost, because a webview drops them until loaded.
 */
import type { Consistency, EventKind, GitContext } from '../server/protocol';

export interface TimelineLane {
  branch: string;
  /** Column, 0 = leftmost; the active branch is always column 0. */
  index: number;
  active: boolean;
  deleted: boolean;
}

export interface TimelineRow {
  seq: number;
  at: string;
  user: string;
  kind: EventKind;
  branch: string;
  /** Column of `branch`. */
  lane: number;
  /** A human sentence: "Bookmarked “after edge case data”". */
  title: string;
  detail?: string;
  /** The bookmark the event is about, when there is one (a point on the lane). */
  bookmarkId?: string;
  /** Columns whose lane is alive at this row (drawn as vertical lines). */
  alive: number[];
}

export interface TimelineBookmark {
  id: string;
  name: string;
  branch: string;
  container: string;
  template: string;
  owner: string;
  shared: boolean;
  mine: boolean;
  tags: string[];
  note: string;
  createdAt: string;
  consistency: Consistency;
  /** The moment its data is from, when the engine knows it. */
  asOf?: string;
  git?: GitContext;
  /** Gone from the engine (deleted): shown, but with no actions. */
  deleted: boolean;
}

export interface TimelineModel {
  container: string;
  template: string;
  activeBranch: string;
  port: number;
  lanes: TimelineLane[];
  /** Newest first, so "now" is at the top. */
  rows: TimelineRow[];
  bookmarks: Record<string, TimelineBookmark>;
  /** Older events than the last row exist; `loadOlder` asks for the next page of them. */
  older: boolean;
  /** What each branch can be restored to (`restore --at`), oldest range first. */
  restorable: TimelineRestorable[];
  generatedAt: string;
}

export interface TimelineRestorable {
  branch: string;
  /** Column of `branch`. */
  lane: number;
  ranges: Array<{ from: string; to: string }>;
}

export type MomentAction = 'restore' | 'branch';

export type BookmarkAction = 'restore' | 'branch' | 'share' | 'unshare' | 'copyLink' | 'delete';
export const BOOKMARK_ACTIONS: readonly BookmarkAction[] = ['restore', 'branch', 'share', 'unshare', 'copyLink', 'delete'];

/** Panel → webview. */
export type ToWebview =
  | { type: 'model'; model: TimelineModel }
  | { type: 'status'; connected: boolean; message?: string };

/** Webview → panel. */
export type FromWebview =
  | { type: 'ready' }
  | { type: 'action'; action: BookmarkAction; bookmarkId: string }
  | { type: 'pickContainer' }
  | { type: 'loadOlder' }
  /** Restore the active branch to `at` (ISO), or branch from `branch` as of it. */
  | { type: 'moment'; action: MomentAction; at: string; branch: string };

/** The panel trusts nothing a webview posts until it has this shape. */
export function isFromWebview(value: unknown): value is FromWebview {
  if (!value || typeof value !== 'object' || !('type' in value)) return false;
  const msg = value as { type: unknown; action?: unknown; bookmarkId?: unknown; at?: unknown; branch?: unknown };
  switch (msg.type) {
    case 'ready':
    case 'pickContainer':
    case 'loadOlder':
      return true;
    case 'action':
      return typeof msg.bookmarkId === 'string' && BOOKMARK_ACTIONS.includes(msg.action as BookmarkAction);
    case 'moment':
      return (msg.action === 'restore' || msg.action === 'branch') && typeof msg.at === 'string' && msg.at.length <= 64
        && typeof msg.branch === 'string' && msg.branch.length <= 256;
    default:
      return false;
  }
}

export function isToWebview(value: unknown): value is ToWebview {
  if (!value || typeof value !== 'object' || !('type' in value)) return false;
  const msg = value as { type: unknown; model?: unknown; connected?: unknown };
  return (msg.type === 'model' && typeof msg.model === 'object' && msg.model !== null)
    || (msg.type === 'status' && typeof msg.connected === 'boolean');
}

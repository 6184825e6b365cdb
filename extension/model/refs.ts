/**
 * What a tree item, quick pick item or timeline point stands for. Commands
 * receive these (from menus, the palette, the webview) and act on them; they
 * carry names and ids only, never data the engine would have to trust.
 */
export type ContainerRef = { kind: 'container'; container: string; template: string };
export type BranchRef = { kind: 'branch'; container: string; branch: string; active: boolean };
export type BookmarkRef = {
  kind: 'bookmark';
  id: string;
  name: string;
  /** The container the bookmark was taken in. */
  container: string;
  branch: string;
  template: string;
  shared: boolean;
  /** Taken by the connected user: only the owner shares, unshares or deletes. */
  mine: boolean;
};
export type TemplateRef = { kind: 'template'; template: string };
export type TemplateVersionRef = { kind: 'templateVersion'; template: string; version: number };
/** A template heading in the Shared Bookmarks tree. */
export type SharedGroupRef = { kind: 'sharedGroup'; template: string };

/** The "Load more…" row after a page of bookmarks; `parent` is the id of the row it belongs under
 *  (`shared` for the Shared Bookmarks tree's top level). Only the trees act on it, never a command. */
export type LoadMoreRef = { kind: 'loadMore'; parent: string };

export type ItemRef = ContainerRef | BranchRef | BookmarkRef | TemplateRef | TemplateVersionRef | SharedGroupRef | LoadMoreRef;

// Not 'loadMore': no command acts on that row's ref.
const kinds = new Set<ItemRef['kind']>(['container', 'branch', 'bookmark', 'template', 'templateVersion', 'sharedGroup']);

/** Command arguments arrive untyped (menus pass the tree element, the webview passes JSON): narrow them here. */
export function refOf(arg: unknown): ItemRef | undefined {
  if (!arg || typeof arg !== 'object') return undefined;
  const candidate = 'ref' in arg ? (arg as { ref: unknown }).ref : arg;
  if (!candidate || typeof candidate !== 'object' || !('kind' in candidate)) return undefined;
  const kind = (candidate as { kind: unknown }).kind;
  return typeof kind === 'string' && kinds.has(kind as ItemRef['kind']) ? (candidate as ItemRef) : undefined;
}

/**
 * The status bar's quick pick: the container's branches, then its recent
 * bookmarks. Picking a branch activates it; picking a bookmark offers to
 * restore it or branch from it.
 */
import type { BookmarkInfo, BranchInfo, ContainerInfo } from '../../server/protocol';
import { ago, shortCommit } from './format';
import { originText } from './nodes';

export type SwitchTarget =
  | { kind: 'branch'; branch: string; active: boolean }
  | { kind: 'bookmark'; bookmark: BookmarkInfo }
  | { kind: 'newBranch' };

export interface PickItem<T> {
  label: string;
  description?: string;
  detail?: string;
  /** A separator row above this item, with this title. */
  separator?: string;
  picked?: boolean;
  value: T;
}

export const RECENT_BOOKMARKS = 10;

export function switchItems(c: ContainerInfo, branches: BranchInfo[], bookmarks: BookmarkInfo[], now?: number): Array<PickItem<SwitchTarget>> {
  const ordered = [...branches].sort((a, b) => Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
  const branchItems = ordered.map((b, i): PickItem<SwitchTarget> => ({
    label: `${b.active ? '$(pass-filled)' : '$(git-branch)'} ${b.name}`,
    description: b.active ? 'active' : originText(b),
    separator: i === 0 ? `Branches of ${c.name}` : undefined,
    value: { kind: 'branch', branch: b.name, active: b.active },
  }));
  const recent = bookmarks
    .filter((bm) => bm.container === c.name || bm.shared)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, RECENT_BOOKMARKS);
  const bookmarkItems = recent.map((bm, i): PickItem<SwitchTarget> => ({
    label: `$(bookmark) ${bm.name}`,
    description: [bm.shared ? 'shared' : undefined, bm.container === c.name ? `on ${bm.branch}` : `${bm.owner} · ${bm.container}/${bm.branch}`, ago(bm.createdAt, now)]
      .filter(Boolean).join(' · '),
    detail: [bm.note || undefined, bm.tags.length ? bm.tags.map((t) => `#${t}`).join(' ') : undefined, shortCommit(bm.git?.commit)]
      .filter(Boolean).join(' · ') || undefined,
    separator: i === 0 ? 'Recent bookmarks' : undefined,
    value: { kind: 'bookmark', bookmark: bm },
  }));
  return [
    ...branchItems,
    ...bookmarkItems,
    { label: '$(add) New branch…', description: `in ${c.name}`, separator: 'Actions', value: { kind: 'newBranch' } },
  ];
}

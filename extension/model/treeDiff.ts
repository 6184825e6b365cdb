/**
 * What a tree must tell VS Code when a level's children are read again. VS
 * Code finds a row's element by object identity, and drops the rows under any
 * element it is told changed until it has asked for them again: a context-menu
 * command that arrives in that moment gets no item. So a refresh names as few
 * elements as it can, keeps the objects VS Code already has, and names none
 * when nothing changed. Pure: tested under node:test.
 */
import type { NodeDesc } from './nodes';

export interface ChildrenDiff {
  /** The level to show: the old object for every id that stays (updated in place), new ones for the rest. */
  children: NodeDesc[];
  /** The parent must be asked for its children again: a row came, went or moved, or turned
   *  from a leaf into a parent or back (its TreeItem id changes with that, see vscode/trees.ts). */
  structural: boolean;
  /** Rows that stay where they were but show something else: only these need drawing again. */
  updated: NodeDesc[];
}

export function diffChildren(old: readonly NodeDesc[], next: readonly NodeDesc[]): ChildrenDiff {
  const before = new Map(old.map((n) => [n.id, n]));
  let structural = old.length !== next.length;
  const updated: NodeDesc[] = [];
  const children = next.map((n, i) => {
    const was = before.get(n.id);
    if (!was) {
      structural = true;
      return n;
    }
    if (old[i]?.id !== n.id || (was.collapsible === 'none') !== (n.collapsible === 'none')) structural = true;
    if (!sameNode(was, n)) {
      overwrite(was, n);
      updated.push(was);
    }
    return was;
  });
  return { children, structural, updated };
}

/** Everything a row shows, and what a command gets from it. */
export function sameNode(a: NodeDesc, b: NodeDesc): boolean {
  return a.id === b.id && a.label === b.label && a.description === b.description && a.tooltip === b.tooltip
    && a.contextValue === b.contextValue && a.icon.id === b.icon.id && a.icon.color === b.icon.color
    && a.collapsible === b.collapsible && JSON.stringify(a.ref) === JSON.stringify(b.ref);
}

/** `target` becomes a copy of `source`, staying the same object. */
function overwrite(target: NodeDesc, source: NodeDesc): void {
  const loose = target as Partial<NodeDesc>;
  for (const key of Object.keys(target) as Array<keyof NodeDesc>) if (!(key in source)) delete loose[key];
  Object.assign(target, source);
}

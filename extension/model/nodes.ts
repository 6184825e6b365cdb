/**
 * Engine results → tree item descriptions, for the Containers, Shared
 * Bookmarks and Templates trees. Pure: the vscode adapter (vscode/trees.ts)
 * only turns these into TreeItems, and node:test checks them against a real
 * engine.
 */
import { describeSource } from '../../server/common/sources';
import type { BookmarkInfo, BranchInfo, ContainerInfo, TemplateInfo, TemplateVersionInfo } from '../../server/protocol';
import { ago, escapeMarkdown, plural, shortCommit, when } from './format';
import type { BookmarkRef, ItemRef } from './refs';

export interface IconDesc {
  /** A codicon id. */
  id: string;
  /** A theme color id, e.g. 'charts.green'. */
  color?: string;
}

export interface NodeDesc {
  /** Stable across refreshes, so VS Code keeps expansion and selection. */
  id: string;
  label: string;
  description?: string;
  /** Markdown. */
  tooltip: string;
  /** Menus in package.json match on this (`viewItem =~ /^bookmark/`). */
  contextValue: string;
  icon: IconDesc;
  collapsible: 'none' | 'collapsed' | 'expanded';
  ref: ItemRef;
}

// ------------------------------------------------------------ containers tree

export function containerNode(c: ContainerInfo, opts: { workspace?: boolean } = {}): NodeDesc {
  const parts = [`${c.activeBranch}`, `:${c.port}`];
  if (c.state === 'failed') parts.push(`failed: ${c.failure?.reason ?? 'the database is not running'}`);
  else if (c.state !== 'running') parts.push(c.state);
  if (opts.workspace) parts.push('this workspace');
  return {
    id: `container:${c.name}`,
    label: c.name,
    description: parts.join(' · '),
    tooltip: lines([
      `**Container ${escapeMarkdown(c.name)}**${opts.workspace ? ' (this workspace)' : ''}`,
      `Template: ${escapeMarkdown(c.template)} v${c.templateVersion}`,
      `Active branch: ${escapeMarkdown(c.activeBranch)} (${plural(c.branches, 'branch')})`,
      `Database: ${escapeMarkdown(c.database)} on ${c.host}:${c.port}, user ${escapeMarkdown(c.user)}`,
      `Driver: ${c.driver} · ${c.state}`,
      c.failure ? `**The database is down:** ${escapeMarkdown(c.failure.reason)} (${when(c.failure.at)}). ${escapeMarkdown(c.failure.action)}` : undefined,
      `Owner: ${escapeMarkdown(c.owner)} · created ${when(c.createdAt)}`,
    ]),
    contextValue: 'container',
    icon: c.state === 'failed' ? { id: 'error', color: 'errorForeground' } : { id: 'database', color: c.state === 'running' ? 'charts.green' : undefined },
    collapsible: opts.workspace ? 'expanded' : 'collapsed',
    ref: { kind: 'container', container: c.name, template: c.template },
  };
}

/** `hasBookmarks`: whether it has any (the tree asks for one, not for all of them). */
export function branchNode(c: ContainerInfo, b: BranchInfo, hasBookmarks: boolean): NodeDesc {
  const description = [b.active ? 'active' : undefined, originText(b), b.gitBranch ? `git ${b.gitBranch}` : undefined, b.cold ? 'cold' : undefined]
    .filter(Boolean).join(' · ');
  return {
    id: `branch:${c.name}/${b.name}`,
    label: b.name,
    description,
    tooltip: lines([
      `**Branch ${escapeMarkdown(b.name)}**${b.active ? ' (active)' : ''} in container ${escapeMarkdown(c.name)}`,
      `Created ${when(b.createdAt)}, ${escapeMarkdown(originText(b))}`,
      b.gitBranch ? `Linked to git branch ${escapeMarkdown(b.gitBranch)}` : undefined,
      `Driver: ${c.driver} · port ${c.port}${b.active ? '' : ' (when activated)'}`,
      hasBookmarks ? undefined : 'No bookmarks',
    ]),
    contextValue: b.active ? 'branch.active' : 'branch',
    icon: b.active ? { id: 'pass-filled', color: 'charts.green' } : { id: 'git-branch' },
    collapsible: !hasBookmarks ? 'none' : b.active ? 'expanded' : 'collapsed',
    ref: { kind: 'branch', container: c.name, branch: b.name, active: b.active },
  };
}

export function originText(b: BranchInfo): string {
  switch (b.origin.kind) {
    case 'template': return `from template ${b.origin.template} v${b.origin.version}`;
    case 'bookmark': return `from bookmark ${b.origin.bookmark}`;
    case 'branch': return `from branch ${b.origin.branch}`;
  }
}

export function bookmarkRef(bm: BookmarkInfo, user: string | undefined): BookmarkRef {
  return {
    kind: 'bookmark', id: bm.id, name: bm.name, container: bm.container, branch: bm.branch,
    template: bm.template, shared: bm.shared, mine: user === undefined || bm.owner === user,
  };
}

/** `showWhere` adds the container and branch, for lists that mix containers (Shared Bookmarks). */
export function bookmarkNode(bm: BookmarkInfo, opts: { user?: string; showWhere?: boolean; now?: number } = {}): NodeDesc {
  const ref = bookmarkRef(bm, opts.user);
  const commit = shortCommit(bm.git?.commit);
  const description = [
    bm.shared ? 'shared' : undefined,
    opts.showWhere ? `${bm.owner} · ${bm.container}/${bm.branch}` : undefined,
    ...bm.tags.map((t) => `#${t}`),
    bm.git?.branch ? `${bm.git.branch}${commit ? `@${commit}` : ''}` : commit,
    ago(bm.createdAt, opts.now),
  ].filter(Boolean).join(' · ');
  return {
    id: `bookmark:${bm.id}${opts.showWhere ? ':shared' : ''}`,
    label: bm.name,
    description,
    tooltip: bookmarkTooltip(bm),
    contextValue: `bookmark.${bm.shared ? 'shared' : 'private'}.${ref.mine ? 'mine' : 'other'}`,
    icon: bm.shared ? { id: 'bookmark', color: 'charts.blue' } : { id: 'bookmark' },
    collapsible: 'none',
    ref,
  };
}

export function bookmarkTooltip(bm: BookmarkInfo): string {
  return lines([
    `**Bookmark ${escapeMarkdown(bm.name)}**${bm.shared ? ' (shared)' : ' (private)'}`,
    bm.note ? `_${escapeMarkdown(bm.note)}_` : undefined,
    bm.tags.length ? `Tags: ${bm.tags.map((t) => `#${escapeMarkdown(t)}`).join(' ')}` : undefined,
    `Taken on branch ${escapeMarkdown(bm.branch)} of container ${escapeMarkdown(bm.container)} (template ${escapeMarkdown(bm.template)})`,
    bm.git?.branch || bm.git?.commit
      ? `Git: ${escapeMarkdown(bm.git.branch ?? '(detached)')}${bm.git.commit ? ` @ ${bm.git.commit}` : ''}` : undefined,
    `By ${escapeMarkdown(bm.owner)}, ${when(bm.createdAt)} (${bm.consistency})`,
    bm.dependents ? `${plural(bm.dependents, 'branch')} made from it` : undefined,
  ]);
}

/** One page or more of a list, newest first, and whether the engine has more after it. */
export interface BookmarkPage {
  bookmarks: BookmarkInfo[];
  more: boolean;
}

/** The row after a page that loads the next one (its click runs `slipstream.views.loadMore`). */
export function loadMoreNode(parentId: string): NodeDesc {
  return {
    id: `more:${parentId}`,
    label: 'Load more…',
    tooltip: 'Show the next page of bookmarks',
    contextValue: 'loadMore',
    icon: { id: 'ellipsis' },
    collapsible: 'none',
    ref: { kind: 'loadMore', parent: parentId },
  };
}

/** A container's children: its branches (active first), then bookmarks whose branch no longer exists. */
export function containerChildren(c: ContainerInfo, branches: BranchInfo[], withBookmarks: ReadonlySet<string>, orphans: BookmarkPage): NodeDesc[] {
  const ordered = [...branches].sort((a, b) => Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
  return [
    ...ordered.map((b) => branchNode(c, b, withBookmarks.has(b.name))),
    ...pageNodes(`container:${c.name}`, orphans, (bm) => bookmarkNode(bm, {})),
  ];
}

/** A branch's bookmarks, newest first, as far as they were loaded. */
export function branchChildren(branch: { container: string; branch: string }, page: BookmarkPage, user?: string): NodeDesc[] {
  return pageNodes(`branch:${branch.container}/${branch.branch}`, page, (bm) => bookmarkNode(bm, { user }));
}

function pageNodes(parentId: string, page: BookmarkPage, node: (bm: BookmarkInfo) => NodeDesc): NodeDesc[] {
  const nodes = page.bookmarks.map(node);
  return page.more ? [...nodes, loadMoreNode(parentId)] : nodes;
}

function newestFirst(bookmarks: BookmarkInfo[]): BookmarkInfo[] {
  return [...bookmarks].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

// ------------------------------------------------------------ shared bookmarks tree

/** The template headings for the shared bookmarks loaded so far; a "Load more…" row after them
 *  when the engine has more (a heading's count is then of those loaded). */
export function sharedGroups(page: BookmarkPage): NodeDesc[] {
  const byTemplate = new Map<string, number>();
  for (const bm of page.bookmarks) if (bm.shared) byTemplate.set(bm.template, (byTemplate.get(bm.template) ?? 0) + 1);
  const groups = [...byTemplate.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([template, n]): NodeDesc => ({
    id: `shared:${template}`,
    label: template,
    description: page.more ? `${plural(n, 'shared bookmark')} loaded` : plural(n, 'shared bookmark'),
    tooltip: `Bookmarks shared by everyone whose containers come from template **${escapeMarkdown(template)}**`,
    contextValue: 'sharedGroup',
    icon: { id: 'layers' },
    collapsible: 'expanded',
    ref: { kind: 'sharedGroup', template },
  }));
  return page.more ? [...groups, loadMoreNode('shared')] : groups;
}

export function sharedChildren(template: string, bookmarks: BookmarkInfo[], user?: string): NodeDesc[] {
  return newestFirst(bookmarks.filter((bm) => bm.shared && bm.template === template))
    .map((bm) => bookmarkNode(bm, { user, showWhere: true }));
}

// ------------------------------------------------------------ templates tree

export function templateNode(t: TemplateInfo): NodeDesc {
  return {
    id: `template:${t.name}`,
    label: t.name,
    description: `v${t.latestVersion} · ${t.source.kind}`,
    tooltip: lines([
      `**Template ${escapeMarkdown(t.name)}**, latest version ${t.latestVersion}`,
      `Source: ${escapeMarkdown(describeSource(t.source))}`,
      `Owner: ${escapeMarkdown(t.owner)} · created ${when(t.createdAt)}`,
    ]),
    contextValue: 'template',
    icon: { id: 'package' },
    collapsible: t.versions.length ? 'collapsed' : 'none',
    ref: { kind: 'template', template: t.name },
  };
}

export function templateVersionNodes(t: TemplateInfo): NodeDesc[] {
  return [...t.versions].sort((a, b) => b.version - a.version).map((v: TemplateVersionInfo) => ({
    id: `template:${t.name}/v${v.version}`,
    label: `v${v.version}`,
    description: [v.version === t.latestVersion ? 'latest' : undefined, `used by ${v.usedBy}`, when(v.createdAt)].filter(Boolean).join(' · '),
    tooltip: `Version ${v.version} of template **${escapeMarkdown(t.name)}**, built ${when(v.createdAt)}; ${plural(v.usedBy, 'container or bookmark')} still use it`,
    contextValue: 'templateVersion',
    icon: { id: v.version === t.latestVersion ? 'tag' : 'history' },
    collapsible: 'none',
    ref: { kind: 'templateVersion', template: t.name, version: v.version },
  }));
}

function lines(items: Array<string | undefined>): string {
  // Two trailing spaces would also work, but blank lines survive every Markdown renderer.
  return items.filter((l): l is string => Boolean(l)).join('\n\n');
}

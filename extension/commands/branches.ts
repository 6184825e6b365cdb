import {
  BranchActivateRequest,
  BranchCreateRequest,
  BranchDeleteRequest,
  BranchListRequest,
  BookmarkListRequest,
  type BranchFrom,
  type BranchInfo,
} from '../../server/protocol';
import type { PickItem } from '../model/picks';
import type { ItemRef } from '../model/refs';
import { answered, bookmarkOf, branchOf, containerForTemplate, containerOf, withEngineProgress } from './pickers';
import type { Session } from './session';

type From = BranchFrom;

/** Create a branch from the template, a bookmark or another branch, and (by choice) activate it. */
export async function createBranch(s: Session, ref?: ItemRef): Promise<BranchInfo> {
  const c = await containerOf(s, ref, 'Create a branch in which container?');
  const from: From = ref?.kind === 'branch' ? { kind: 'branch', branch: ref.branch } : await pickOrigin(s, c.container);
  const name = answered(await s.ui.input({
    title: `New branch in ${c.container}`, prompt: `Branch name (${fromText(from)})`, required: true,
  }));
  const activate = answered(await s.ui.pick<boolean>([
    { label: 'Create and activate', description: 'the database restarts on the same port with the new branch', value: true },
    { label: 'Create only', value: false },
  ], { title: `Branch ${name}` }));
  const b = await withEngineProgress(s, `Creating branch ${name}`,
    (opts) => s.engine.request(BranchCreateRequest.type, { container: c.container, name, from, activate }, opts));
  s.ui.info(`Branch ${b.name} created in ${c.container}${b.active ? ' and activated' : ''}.`);
  return b;
}

async function pickOrigin(s: Session, container: string): Promise<From> {
  const [branches, bookmarks] = await Promise.all([
    s.engine.request(BranchListRequest.type, { container }),
    s.engine.request(BookmarkListRequest.type, {}),
  ]);
  const items: Array<PickItem<From>> = [
    { label: '$(package) The template', description: 'the template’s latest version', separator: 'Start from', value: { kind: 'template' } },
    ...branches.map((b): PickItem<From> => ({
      label: `$(git-branch) ${b.name}`, description: `its current data${b.active ? ' (active)' : ''}`, value: { kind: 'branch', branch: b.name },
    })),
    ...bookmarks.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((bm): PickItem<From> => ({
      label: `$(bookmark) ${bm.name}`, description: `${bm.shared ? 'shared · ' : ''}${bm.container}/${bm.branch}`, value: { kind: 'bookmark', bookmark: bm.id },
    })),
  ];
  return answered(await s.ui.pick(items, { title: `New branch in ${container}`, placeholder: 'Start the branch from…' }));
}

function fromText(from: From): string {
  return from.kind === 'template' ? 'from the template' : from.kind === 'branch' ? `from branch ${from.branch}` : 'from a bookmark';
}

/** "Branch here": a new branch from a bookmark in the user's own container, activated (story 2). */
export async function branchFromBookmark(s: Session, ref?: ItemRef): Promise<BranchInfo> {
  const bm = await bookmarkOf(s, ref, 'Branch from which bookmark?');
  const c = await containerForTemplate(s, bm.template, `Branch from ${bm.name} into which container?`);
  const name = answered(await s.ui.input({
    title: `Branch from bookmark ${bm.name}`,
    prompt: `New branch in your container ${c.name}; it is activated (same port ${c.port})`,
    value: suggestBranchName(bm.name),
    required: true,
  }));
  const b = await withEngineProgress(s, `Branching ${name} from ${bm.name}`,
    (opts) => s.engine.request(BranchCreateRequest.type, { container: c.name, name, from: { kind: 'bookmark', bookmark: bm.id }, activate: true }, opts));
  s.ui.info(`Branch ${b.name} of ${c.name} now holds the data of bookmark ${bm.name}, and is active.`);
  return b;
}

/** A branch name suggestion; the engine decides what is valid. */
export function suggestBranchName(bookmark: string): string {
  return bookmark.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'branch';
}

export async function activateBranch(s: Session, ref?: ItemRef): Promise<BranchInfo> {
  const b = await branchOf(s, ref, 'Activate which branch?', (active) => !active);
  if (b.active) {
    s.ui.info(`Branch ${b.branch} is already active in ${b.container}.`);
    return (await s.engine.request(BranchListRequest.type, { container: b.container })).find((x) => x.name === b.branch)!;
  }
  const result = await withEngineProgress(s, `Activating ${b.branch} in ${b.container}`,
    (opts) => s.engine.request(BranchActivateRequest.type, { container: b.container, name: b.branch }, opts));
  s.ui.info(`Branch ${b.branch} is active in ${b.container}; the connection URL is unchanged.`);
  return result;
}

export async function deleteBranch(s: Session, ref?: ItemRef): Promise<void> {
  const b = await branchOf(s, ref, 'Delete which branch?', (active) => !active);
  const ok = await s.ui.confirm(`Delete branch ${b.branch} of ${b.container}?`,
    'Its data is deleted. Bookmarks taken on it are kept. This cannot be undone.', 'Delete Branch');
  if (!ok) return;
  await withEngineProgress(s, `Deleting branch ${b.branch}`,
    (opts) => s.engine.request(BranchDeleteRequest.type, { container: b.container, name: b.branch }, opts));
  s.ui.info(`Branch ${b.branch} deleted.`);
}

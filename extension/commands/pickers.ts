/**
 * Resolving what a command acts on: the item it was invoked on, else the
 * workspace's container, else a question. Every answer comes from the engine.
 */
import type { RequestOptions } from '../../server/common/client';
import {
  BookmarkListRequest,
  BranchListRequest,
  ContainerListRequest,
  TemplateListRequest,
  type BookmarkInfo,
  type ContainerInfo,
} from '../../server/protocol';
import { ago } from '../model/format';
import { bookmarkRef } from '../model/nodes';
import type { BookmarkRef, BranchRef, ContainerRef, ItemRef } from '../model/refs';
import type { Session } from './session';

/** The user closed a question: the command ends quietly. */
export class Dismissed extends Error {
  constructor() { super('dismissed'); this.name = 'Dismissed'; }
}

export function answered<T>(value: T | undefined): T {
  if (value === undefined) throw new Dismissed();
  return value;
}

export async function containerOf(s: Session, ref: ItemRef | undefined, title: string): Promise<ContainerRef> {
  if (ref?.kind === 'container') return ref;
  if (ref?.kind === 'branch') return { kind: 'container', container: ref.container, template: '' };
  const containers = await s.engine.request(ContainerListRequest.type, {});
  const preferred = s.workspaceContainer();
  const found = containers.find((c) => c.name === preferred) ?? (containers.length === 1 ? containers[0] : undefined);
  if (found) return toRef(found);
  if (containers.length === 0) throw new Error('You have no container yet. Run "Slipstream: Provision Container" first.');
  return toRef(answered(await s.ui.pick(containers.map((c) => ({
    label: c.name, description: `${c.template} · ${c.activeBranch} · port ${c.port}`, value: c,
  })), { title, placeholder: 'Container' })));
}

function toRef(c: ContainerInfo): ContainerRef {
  return { kind: 'container', container: c.name, template: c.template };
}

/** A container of the user's made from `template`, for actions on someone else's bookmark. */
export async function containerForTemplate(s: Session, template: string, title: string): Promise<ContainerInfo> {
  const containers = (await s.engine.request(ContainerListRequest.type, {})).filter((c) => c.template === template);
  if (containers.length === 0) {
    throw new Error(`You have no container made from template "${template}". Provision one first ("Slipstream: Provision Container").`);
  }
  const preferred = containers.find((c) => c.name === s.workspaceContainer());
  if (preferred || containers.length === 1) return preferred ?? containers[0];
  return answered(await s.ui.pick(containers.map((c) => ({
    label: c.name, description: `active branch ${c.activeBranch} · port ${c.port}`, value: c,
  })), { title, placeholder: `Your containers from template ${template}` }));
}

export async function branchOf(s: Session, ref: ItemRef | undefined, title: string, filter: (active: boolean) => boolean): Promise<BranchRef> {
  if (ref?.kind === 'branch') return ref;
  const c = await containerOf(s, ref, title);
  const branches = (await s.engine.request(BranchListRequest.type, { container: c.container })).filter((b) => filter(b.active));
  if (branches.length === 0) throw new Error(`Container ${c.container} has no branch to choose here.`);
  const b = answered(await s.ui.pick(branches.map((b) => ({
    label: b.name, description: b.active ? 'active' : undefined, value: b,
  })), { title, placeholder: `Branches of ${c.container}` }));
  return { kind: 'branch', container: c.container, branch: b.name, active: b.active };
}

export async function bookmarkOf(s: Session, ref: ItemRef | undefined, title: string, filter: (bm: BookmarkInfo) => boolean = () => true): Promise<BookmarkRef> {
  if (ref?.kind === 'bookmark') return ref;
  const params = ref?.kind === 'container' || ref?.kind === 'branch' ? { container: ref.container } : {};
  const all = (await s.engine.request(BookmarkListRequest.type, params)).filter(filter);
  if (all.length === 0) throw new Error('There is no bookmark to choose here.');
  const sorted = [...all].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const bm = answered(await s.ui.pick(sorted.map((b) => ({
    label: b.name,
    description: [b.shared ? 'shared' : undefined, `${b.container}/${b.branch}`, ago(b.createdAt)].filter(Boolean).join(' · '),
    detail: b.note || undefined,
    value: b,
  })), { title, placeholder: 'Bookmark' }));
  return bookmarkRef(bm, s.user());
}

export async function templateOf(s: Session, ref: ItemRef | undefined, title: string): Promise<string> {
  if (ref?.kind === 'template' || ref?.kind === 'templateVersion' || ref?.kind === 'sharedGroup') return ref.template;
  const templates = await s.engine.request(TemplateListRequest.type, {});
  if (templates.length === 0) throw new Error('There is no template yet. Run "Slipstream: Create Template" first.');
  const t = answered(await s.ui.pick(templates.map((t) => ({
    label: t.name, description: `v${t.latestVersion} · ${t.source.kind}`, value: t,
  })), { title, placeholder: 'Template' }));
  return t.name;
}

/** Runs a long engine request under a progress notification, with the engine's `$/progress` shown in it. */
export function withEngineProgress<R>(s: Session, title: string, run: (opts: RequestOptions) => Promise<R>): Promise<R> {
  return s.ui.withProgress(title, true, (report, signal) => run({ onProgress: report, signal }));
}

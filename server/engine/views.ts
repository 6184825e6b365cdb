import * as os from 'os';
import { shownSource } from '../common/sources';
import type { BookmarkInfo, BranchInfo, ContainerFailure, ContainerInfo, ContainerState, TemplateInfo, TimelineEvent } from '../protocol';
import type { Engine } from './engine';
import { DATABASE, SUPERUSER } from './postgres/cluster';
import type { BookmarkRecord, BranchRecord, ContainerRecord, EventRecord, TemplateRecord } from './records';
import type { Store } from './store';

/** Records to protocol views. The only place that decides what a client sees of a record. */

export function templateInfo(store: Store, t: TemplateRecord): TemplateInfo {
  const containers = store.allContainers().filter((c) => c.templateId === t.id);
  const bookmarks = store.allBookmarks().filter((b) => b.templateId === t.id);
  return {
    id: t.id,
    name: t.name,
    source: shownSource(t.source),
    owner: t.owner,
    createdAt: t.createdAt,
    latestVersion: t.versions[t.versions.length - 1]?.version ?? 0,
    versions: t.versions.map((v) => ({
      version: v.version,
      createdAt: v.createdAt,
      usedBy: containers.filter((c) => c.templateVersion === v.version).length
        + bookmarks.filter((b) => b.templateVersion === v.version).length,
    })),
    ...(t.pulledFrom ? { pulledFrom: t.pulledFrom } : {}),
  };
}

/** The host to put in a connection URL: a database listening on every address is
 *  reached by this machine's name (team mode), otherwise by the address itself. */
export function connectHost(listen: string): string {
  return listen === '0.0.0.0' || listen === '*' || listen === '::' ? os.hostname() : listen;
}

/** A container as a client sees it, with its database's real state. */
export async function containerView(engine: Engine, c: ContainerRecord): Promise<ContainerInfo> {
  return containerInfo(engine.store, c, await engine.databaseState(c));
}

export function containerInfo(store: Store, c: ContainerRecord,
  db: { state: ContainerState; failure?: ContainerFailure }): ContainerInfo {
  const template = store.template(c.templateId);
  const branches = store.branchesOf(c.id);
  return {
    id: c.id,
    name: c.name,
    template: template?.name ?? c.templateId,
    templateVersion: c.templateVersion,
    owner: c.owner,
    host: connectHost(c.listen),
    port: c.port,
    database: DATABASE,
    user: SUPERUSER,
    driver: c.driver,
    activeBranch: branches.find((b) => b.id === c.activeBranchId)?.name ?? '',
    branches: branches.length,
    state: db.state,
    ...(db.failure ? { failure: db.failure } : {}),
    createdAt: c.createdAt,
  };
}

export function branchInfo(store: Store, b: BranchRecord): BranchInfo {
  const c = store.container(b.containerId);
  return {
    id: b.id,
    name: b.name,
    container: c?.name ?? b.containerId,
    active: c?.activeBranchId === b.id,
    origin: b.origin,
    createdAt: b.createdAt,
    ...(b.gitBranch ? { gitBranch: b.gitBranch } : {}),
    ...(b.spare && b.spare.snapshotId === b.baseSnapshotId ? { spareReady: true } : {}),
    ...(b.cold ? { cold: true } : {}),
  };
}

/** What turning many bookmarks into BookmarkInfo needs, read once: how many branches
 *  were made from each bookmark, and container and template names. One pass over each,
 *  so a list of 10,000 bookmarks does not look them up 10,000 times. */
export interface BookmarkLookups {
  dependents: Map<string, number>;
  containerNames: Map<string, string>;
  templateNames: Map<string, string>;
}

export function bookmarkLookups(store: Store): BookmarkLookups {
  const dependents = new Map<string, number>();
  for (const br of store.allBranches()) {
    if (br.origin.kind === 'bookmark') dependents.set(br.origin.bookmarkId, (dependents.get(br.origin.bookmarkId) ?? 0) + 1);
  }
  return {
    dependents,
    containerNames: new Map(store.allContainers().map((c) => [c.id, c.name])),
    templateNames: new Map(store.allTemplates().map((t) => [t.id, t.name])),
  };
}

export function bookmarkInfo(store: Store, b: BookmarkRecord, lookups = bookmarkLookups(store)): BookmarkInfo {
  return {
    id: b.id,
    name: b.name,
    container: lookups.containerNames.get(b.containerId) ?? b.pulled?.container ?? b.containerId,
    branch: b.branchName,
    template: lookups.templateNames.get(b.templateId) ?? b.templateId,
    owner: b.owner,
    shared: b.shared,
    tags: b.tags,
    note: b.note,
    createdAt: b.createdAt,
    consistency: b.consistency,
    ...(b.asOf ? { asOf: b.asOf } : {}),
    ...(b.lsn ? { lsn: b.lsn } : {}),
    ...(b.git ? { git: b.git } : {}),
    dependents: lookups.dependents.get(b.id) ?? 0,
    ...(b.pulled ? { pulled: { remote: b.pulled.remote, at: b.pulled.at, owner: b.pulled.owner } } : {}),
  };
}

export function eventInfo(e: EventRecord, containerName: string): TimelineEvent {
  return {
    seq: e.seq, at: e.at, user: e.user, container: containerName, kind: e.kind, branch: e.branch,
    ...(e.bookmark ? { bookmark: e.bookmark } : {}),
    ...(e.detail ? { detail: e.detail } : {}),
    ...(e.moment ? { moment: e.moment } : {}),
  };
}

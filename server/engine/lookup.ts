import type { Caller, Engine } from './engine';
import { EngineError } from './errors';
import type { BookmarkRecord, BranchRecord, ContainerRecord, TemplateRecord } from './records';

/** Finding records by the names and ids users type, with "not found" errors that say what to do. */

export function findTemplate(engine: Engine, name: string): TemplateRecord {
  const t = engine.store.allTemplates().find((x) => x.name === name);
  if (!t) throw new EngineError('NotFound', `template "${name}" not found. See the templates with: slipstream template list`);
  return t;
}

/** A container by name, among the caller's own: names are unique per owner, and
 *  someone else's container is "not found" so its name does not leak. */
export function findContainer(engine: Engine, caller: Caller, ref: string): ContainerRecord {
  const [owner, name] = ref.includes('/') ? ref.split('/') : [caller.name, ref];
  const c = (owner === caller.name || caller.admin)
    ? engine.store.allContainers().find((x) => x.name === name && x.owner === owner)
    : undefined;
  if (!c) throw new EngineError('NotFound', `container "${ref}" not found. See your containers with: slipstream container list`);
  return c;
}

export function findBranch(engine: Engine, c: ContainerRecord, name: string): BranchRecord {
  const b = engine.store.branchesOf(c.id).find((x) => x.name === name);
  if (!b) throw new EngineError('NotFound', `branch "${name}" not found in container "${c.name}". See its branches with: slipstream branch list --container ${c.name}`);
  return b;
}

export function activeBranch(engine: Engine, c: ContainerRecord): BranchRecord {
  const b = engine.store.branch(c.activeBranchId);
  if (!b) throw new EngineError('Internal', `container "${c.name}" has no active branch record`);
  return b;
}

/** Own bookmarks and shared ones; and one the caller branched from, even once it is
 *  unshared, for as long as that branch exists. */
export function visibleBookmark(engine: Engine, caller: Caller, b: BookmarkRecord,
  branchedFrom: ReadonlySet<string> = bookmarksBranchedBy(engine, caller)): boolean {
  return b.shared || engine.canSee(caller, b.owner) || branchedFrom.has(b.id);
}

/** The bookmarks the caller has branches from, in one pass over the branches. */
export function bookmarksBranchedBy(engine: Engine, caller: Caller): Set<string> {
  const ids = new Set<string>();
  for (const br of engine.store.allBranches()) {
    if (br.origin.kind === 'bookmark' && engine.store.container(br.containerId)?.owner === caller.name) ids.add(br.origin.bookmarkId);
  }
  return ids;
}

/** A bookmark by id, or by a name that is unique among the bookmarks the caller can see
 *  (only those of `container`, when given). */
export function findBookmark(engine: Engine, caller: Caller, ref: string, container?: ContainerRecord): BookmarkRecord {
  const byId = engine.store.bookmark(ref);
  if (byId && visibleBookmark(engine, caller, byId)) return byId;
  const all = engine.store.allBookmarks()
    .filter((b) => b.name === ref && visibleBookmark(engine, caller, b))
    .filter((b) => !container || b.containerId === container.id);
  if (all.length === 1) return all[0];
  const where = container ? ` in container "${container.name}"` : '';
  if (all.length === 0) {
    throw new EngineError('NotFound', `bookmark "${ref}" not found${where}. See bookmarks with: slipstream bookmark list`);
  }
  const ids = all.map((b) => b.id).join(', ');
  throw new EngineError('Ambiguous', `${all.length} bookmarks are named "${ref}"${where}: ${ids}. Use the id instead.`);
}

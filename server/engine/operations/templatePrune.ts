import type { Engine } from '../engine';

/** Drop a template's versions that nothing uses any more: not the latest, not any
 *  container's, not any bookmark's, and whose snapshot no branch points at. */
export async function pruneTemplateVersions(engine: Engine, templateId: string): Promise<void> {
  const { store } = engine;
  const dropped: string[] = [];
  store.tx(() => {
    const t = store.template(templateId);
    if (!t) return;
    const latest = t.versions[t.versions.length - 1]?.version;
    const usedVersions = new Set([
      ...store.allContainers().filter((c) => c.templateId === t.id).map((c) => c.templateVersion),
      ...store.allBookmarks().filter((b) => b.templateId === t.id).map((b) => b.templateVersion),
    ]);
    const branchSnaps = new Set(store.allBranches().map((b) => b.baseSnapshotId));
    const keep = t.versions.filter((v) => v.version === latest || usedVersions.has(v.version) || branchSnaps.has(v.snapshotId));
    dropped.push(...t.versions.filter((v) => !keep.includes(v)).map((v) => v.snapshotId));
    if (dropped.length) store.putTemplate({ ...t, versions: keep });
  });
  await engine.releaseSnapshots(dropped);
}

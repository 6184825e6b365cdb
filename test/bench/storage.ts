/**
 * Bytes on disk for a template plus 10 branches, each with 1% of rows changed,
 * against one full copy (the target) and 11 full copies (what 11 cp -a would
 * take). Measured as growth of the pool, in two containers, one per change
 * pattern (see dataset.ts), so the figure shows what the shape of a change does.
 */
import {
  BranchCreateRequest, ContainerCreateRequest, ContainerDeleteRequest, TemplateCreateRequest,
} from '../../server/protocol';
import { changeStatement, type ChangePattern, type Dataset } from './dataset';
import type { BenchEngine } from './engine';
import { timed } from './exec';
import type { Master } from './master';
import type { Site } from './sites';

export const BRANCHES = 10;

export interface StorageFigures {
  dataset: string;
  templateBytes: number;
  /** Template plus 10 changed branches (including the container's working copy). */
  totalBytes: Partial<Record<ChangePattern, number>>;
  oneCopyBytes: number;
}

export interface TemplateBuild {
  name: string;
  seconds: number;
}

export async function buildTemplate(engine: BenchEngine, ds: Dataset, sqlFile: string): Promise<TemplateBuild> {
  const name = `t-${ds.name}`;
  const seconds = await timed(() => engine.request(TemplateCreateRequest.type, { name, source: { kind: 'sql', files: [sqlFile] } }));
  return { name, seconds };
}

/** Must run first on a fresh pool, so that growth is ours alone. */
export async function measureStorage(engine: BenchEngine, site: Site, pool: string, master: Master, sqlFile: string,
  patterns: ChangePattern[]): Promise<{ storage: StorageFigures; template: TemplateBuild }> {
  const ds = master.ds;
  const u0 = await site.usedBytes(pool);
  const template = await buildTemplate(engine, ds, sqlFile);
  const templateBytes = (await site.usedBytes(pool)) - u0;
  const totalBytes: StorageFigures['totalBytes'] = {};
  for (const pattern of patterns) {
    const before = await site.usedBytes(pool);
    const container = `st-${pattern}`;
    await engine.request(ContainerCreateRequest.type, { name: container, template: template.name });
    for (let i = 1; i <= BRANCHES; i++) {
      await engine.request(BranchCreateRequest.type, { container, name: `s-${i}`, from: { kind: 'template' }, activate: true });
      // The checkpoint puts the last branch's change in its data files, not only in WAL.
      await engine.sql(container, [changeStatement(ds, pattern, i), 'CHECKPOINT']);
    }
    // Spares and (on blocks) dehydrations change what the pool holds: measure it once they are done.
    await engine.idle();
    totalBytes[pattern] = templateBytes + (await site.usedBytes(pool)) - before;
  }
  for (const pattern of patterns) await engine.request(ContainerDeleteRequest.type, { name: `st-${pattern}` });
  return { storage: { dataset: ds.name, templateBytes, totalBytes, oneCopyBytes: master.copyBytes }, template };
}

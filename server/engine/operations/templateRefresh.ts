import { TemplateRefreshRequest, type NameParams, type WithProgress } from '../../protocol';
import type { Engine, OpContext } from '../engine';
import { EngineError } from '../errors';
import { now } from '../ids';
import { findTemplate } from '../lookup';
import type { JournalRecord } from '../journal';
import { validateSource } from '../sources';
import { templateInfo } from '../views';
import { existingName, object, optStr } from '../validate';
import { buildTemplateVersion, rollbackBuild } from './templateBuild';
import { operation, type Recover } from './operation';
import { pruneTemplateVersions } from './templatePrune';

/** template refresh NAME: build a new version from the template's source. Containers
 *  move to it when their owners run `refresh`; older versions stay while used. */
export const templateRefresh = operation(TemplateRefreshRequest.type, parse, async (ctx: OpContext, p: NameParams & WithProgress) => {
  const { engine } = ctx;
  engine.requireAdmin(ctx.caller, 'refresh templates');
  const template = findTemplate(engine, p.name);
  if (template.pulledFrom) {
    throw new EngineError('InvalidArgument', `template "${template.name}" was pulled from remote "${template.pulledFrom}": its source is on the engine that built it. Refresh it there, push a bookmark of the new version, and pull that here.`);
  }
  await validateSource(template.source);
  return engine.locks.with(`template:${template.name}`, `template "${template.name}"`, 'template refresh', async () => {
    await buildTemplateVersion(ctx, 'template-refresh', { templateId: template.id }, template.source,
      (journal: JournalRecord<'template-refresh'>, snapshotId: string) => {
        engine.store.tx(() => {
          const current = engine.store.template(template.id)!;
          const version = current.versions[current.versions.length - 1].version + 1;
          current.versions.push({ version, snapshotId, createdAt: now() });
          engine.store.putTemplate(current);
          engine.journalEnd(journal);
        });
      });
    await pruneTemplateVersions(engine, template.id);
    engine.notify('template');
    return templateInfo(engine.store, engine.store.template(template.id)!);
  });
});

export const recoverTemplateRefresh: Recover<'template-refresh'> = (engine: Engine, rec: JournalRecord<'template-refresh'>) => rollbackBuild(engine, rec);

function parse(raw: unknown): NameParams & WithProgress {
  const o = object(raw);
  return { name: existingName(o, 'name', 'template'), workDoneToken: optStr(o, 'workDoneToken') };
}

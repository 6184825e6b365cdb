import { TemplateDeleteRequest, TemplateListRequest, type NameParams } from '../../protocol';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { findTemplate } from '../lookup';
import { templateInfo } from '../views';
import { existingName, object } from '../validate';
import { operation } from './operation';

/** template list: everyone may read templates. */
export const templateList = operation(TemplateListRequest.type, () => ({}), async ({ engine }: OpContext) =>
  engine.store.allTemplates().map((t) => templateInfo(engine.store, t)));

/** template delete NAME: only when no container uses it. */
export const templateDelete = operation(TemplateDeleteRequest.type, (raw) => ({ name: existingName(object(raw), 'name', 'template') }),
  async ({ engine, caller }: OpContext, p: NameParams) => {
    engine.requireAdmin(caller, 'delete templates');
    const t = findTemplate(engine, p.name);
    return engine.locks.with(`template:${t.name}`, `template "${t.name}"`, 'template delete', async () => {
      const users = engine.store.allContainers().filter((c) => c.templateId === t.id);
      if (users.length) {
        const names = users.map((c) => `${c.owner}/${c.name}`).join(', ');
        throw new EngineError('InUse', `template "${t.name}" is used by ${users.length} container(s): ${names}. Delete them first.`);
      }
      const info = templateInfo(engine.store, t);
      engine.store.tx(() => engine.store.removeTemplate(t.id));
      await engine.releaseSnapshots(t.versions.map((v) => v.snapshotId));
      engine.notify('template');
      return info;
    });
  });

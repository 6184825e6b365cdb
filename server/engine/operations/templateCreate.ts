import * as path from 'path';
import { TemplateCreateRequest, type SourceSpec, type TemplateCreateParams } from '../../protocol';
import type { Engine, OpContext } from '../engine';
import { EngineError } from '../errors';
import { newId, now } from '../ids';
import type { JournalRecord } from '../journal';
import type { TemplateRecord } from '../records';
import { validateSource } from '../sources';
import { templateInfo } from '../views';
import { name, object, optStr, str, type Raw } from '../validate';
import { buildTemplateVersion, rollbackBuild } from './templateBuild';
import { operation, type Recover } from './operation';

/** template create NAME (--empty | --sql FILE... | --dump FILE | --url URL | --command CMD) */
export const templateCreate = operation(TemplateCreateRequest.type, parse, async (ctx: OpContext, p: TemplateCreateParams) => {
  const { engine, caller } = ctx;
  engine.requireAdmin(caller, 'create templates');
  if (engine.store.allTemplates().some((t) => t.name === p.name)) {
    throw new EngineError('NameTaken', `a template named "${p.name}" already exists. Pick another name, or refresh it with: slipstream template refresh ${p.name}`);
  }
  await validateSource(p.source);
  return engine.locks.with(`template:${p.name}`, `template "${p.name}"`, 'template create', async () => {
    const id = newId('tpl');
    await buildTemplateVersion(ctx, 'template-create', { templateId: id, name: p.name }, p.source,
      (journal: JournalRecord<'template-create'>, snapshotId: string) => {
        const rec: TemplateRecord = {
          id, name: p.name, source: p.source, owner: caller.name, createdAt: now(),
          versions: [{ version: 1, snapshotId, createdAt: now() }],
        };
        engine.store.tx(() => {
          engine.store.putTemplate(rec);
          engine.journalEnd(journal);
        });
      });
    engine.notify('template');
    return templateInfo(engine.store, engine.store.template(id)!);
  });
});

export const recoverTemplateCreate: Recover<'template-create'> = (engine: Engine, rec: JournalRecord<'template-create'>) => rollbackBuild(engine, rec);

function parse(raw: unknown): TemplateCreateParams {
  const o = object(raw);
  return { name: name(o, 'name', 'template'), source: parseSource(object(o.source)), workDoneToken: optStr(o, 'workDoneToken') };
}

export function parseSource(o: Raw): SourceSpec {
  const kind = str(o, 'kind');
  switch (kind) {
    case 'empty': return { kind };
    case 'sql': {
      const files = o.files;
      if (!Array.isArray(files) || files.length === 0 || files.some((f) => typeof f !== 'string' || !path.isAbsolute(f))) {
        throw new EngineError('InvalidArgument', 'a sql source needs a list of absolute file paths.');
      }
      return { kind, files: files as string[] };
    }
    case 'dump': return { kind, file: absolute(str(o, 'file')) };
    case 'url': return { kind, url: str(o, 'url') };
    case 'command': return { kind, command: str(o, 'command'), cwd: absolute(str(o, 'cwd')) };
    default: throw new EngineError('InvalidArgument', `unknown source kind "${kind}": use empty, sql, dump, url or command.`);
  }
}

function absolute(p: string): string {
  if (!path.isAbsolute(p)) throw new EngineError('InvalidArgument', `"${p}" must be an absolute path.`);
  return p;
}

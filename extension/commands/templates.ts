import {
  TemplateCreateRequest,
  TemplateDeleteRequest,
  TemplateRefreshRequest,
  type SourceSpec,
  type TemplateInfo,
} from '../../server/protocol';
import type { PickItem } from '../model/picks';
import type { ItemRef } from '../model/refs';
import { answered, templateOf, withEngineProgress } from './pickers';
import type { Session } from './session';

type SourceKind = SourceSpec['kind'];

/** Create a template (admins): a named golden dataset built from a source. */
export async function createTemplate(s: Session, _ref?: ItemRef, preset?: { name: string; source: SourceSpec }): Promise<TemplateInfo> {
  const name = preset?.name ?? answered(await s.ui.input({ title: 'Create a template', prompt: 'Template name', required: true }));
  const source = preset?.source ?? await askSource(s, name);
  const t = await withEngineProgress(s, `Building template ${name}`,
    (opts) => s.engine.request(TemplateCreateRequest.type, { name, source }, opts));
  // From slipstream.json the container follows at once; only a template made by hand needs the hint.
  s.ui.info(`Template ${t.name} v${t.latestVersion} is built.${preset ? '' : ' Provision a container from it to use it.'}`);
  return t;
}

async function askSource(s: Session, name: string): Promise<SourceSpec> {
  const kinds: Array<PickItem<SourceKind>> = [
    { label: 'SQL files', description: 'run in order on an empty database', value: 'sql' },
    { label: 'Dump file', description: 'a pg_dump file', value: 'dump' },
    { label: 'Live database', description: 'a postgres:// URL, copied', value: 'url' },
    { label: 'Seeding command', description: 'e.g. npm run migrate && npm run seed, with DATABASE_URL set', value: 'command' },
    { label: 'Empty', description: 'an empty database', value: 'empty' },
  ];
  const kind = answered(await s.ui.pick(kinds, { title: `Template ${name}: where does its data come from?` }));
  switch (kind) {
    case 'empty':
      return { kind };
    case 'sql':
      return { kind, files: answered(await s.ui.pickFiles({ title: 'SQL files for the template', many: true, filters: { SQL: ['sql'] } })) };
    case 'dump': {
      const [file] = answered(await s.ui.pickFiles({ title: 'Dump file for the template', many: false }));
      return { kind, file: answered(file) };
    }
    case 'url':
      return { kind, url: answered(await s.ui.input({ title: `Template ${name}`, prompt: 'PostgreSQL URL of the source database', placeholder: 'postgres://user:password@host:5432/db', required: true })) };
    case 'command': {
      const command = answered(await s.ui.input({ title: `Template ${name}`, prompt: 'Command that seeds a fresh database (DATABASE_URL is set)', placeholder: 'npm run migrate && npm run seed', required: true }));
      const cwd = s.workspaceFolder();
      if (!cwd) throw new Error('A seeding command runs in the workspace folder; open a folder first.');
      return { kind, command, cwd };
    }
  }
}

/** Refresh a template from its source: a new version; containers move to it when their owners refresh. */
export async function refreshTemplate(s: Session, ref?: ItemRef): Promise<TemplateInfo> {
  const name = await templateOf(s, ref, 'Refresh which template from its source?');
  const t = await withEngineProgress(s, `Refreshing template ${name} from its source`,
    (opts) => s.engine.request(TemplateRefreshRequest.type, { name }, opts));
  s.ui.info(`Template ${t.name} is now at v${t.latestVersion}. Containers move to it when their owners refresh.`);
  return t;
}

export async function deleteTemplate(s: Session, ref?: ItemRef): Promise<void> {
  const name = await templateOf(s, ref, 'Delete which template?');
  const ok = await s.ui.confirm(`Delete template ${name}?`, 'Every version of it is deleted. The engine refuses while containers or bookmarks use it.', 'Delete Template');
  if (!ok) return;
  await s.engine.request(TemplateDeleteRequest.type, { name });
  s.ui.info(`Template ${name} deleted.`);
}

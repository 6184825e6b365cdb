/**
 * slipstream.json: the repository names its template and container, and a
 * teammate who opens the folder gets the same data setup with one click.
 */
import { ContainerListRequest, TemplateListRequest } from '../../server/protocol';
import type { Requester } from '../engine/connection';
import type { WorkspaceConfig } from '../../server/common/workspaceConfig';
import { provision } from './containers';
import { createTemplate } from './templates';
import type { Session } from './session';

export type SetupNeed = 'ready' | 'container' | 'template-and-container';
/** What provisioning reads of slipstream.json (its hooks are run elsewhere, vscode/hooks.ts). */
export type DataSetup = Pick<WorkspaceConfig, 'template' | 'source' | 'container'>;

export async function setupNeed(engine: Requester, config: DataSetup): Promise<SetupNeed> {
  const [containers, templates] = await Promise.all([
    engine.request(ContainerListRequest.type, {}),
    engine.request(TemplateListRequest.type, {}),
  ]);
  if (containers.some((c) => c.name === config.container)) return 'ready';
  return templates.some((t) => t.name === config.template) ? 'container' : 'template-and-container';
}

/** Builds what is missing (the template from its source, then the container) and makes it this workspace's. */
export async function setupWorkspace(s: Session, config: DataSetup): Promise<void> {
  const need = await setupNeed(s.engine, config);
  if (need === 'template-and-container') {
    if (!config.source) {
      throw new Error(`Template ${config.template} does not exist on this engine, and slipstream.json gives no source to build it from.`);
    }
    await createTemplate(s, undefined, { name: config.template, source: config.source });
  }
  if (need !== 'ready') await provision(s, undefined, { template: config.template, container: config.container });
  await s.setWorkspaceContainer(config.container);
}

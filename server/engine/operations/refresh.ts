import { RefreshRequest, type ContainerOpParams } from '../../protocol';
import type { OpContext } from '../engine';
import { findContainer } from '../lookup';
import { containerView } from '../views';
import { operation } from './operation';
import { parseContainerOp } from './reset';
import { rewind } from './rewind';
import { pruneTemplateVersions } from './templatePrune';

/** refresh --container C: replace the active branch's data with the template's latest version. */
export const refresh = operation(RefreshRequest.type, parseContainerOp, async (ctx: OpContext, p: ContainerOpParams) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.container);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'refresh', async () => {
    const current = engine.store.container(c.id)!;
    const template = engine.store.template(current.templateId)!;
    const latest = template.versions[template.versions.length - 1];
    await rewind(ctx, current, {
      op: 'refresh', event: 'refreshed', snapshotId: latest.snapshotId, templateVersion: latest.version,
      extra: { detail: `to template ${template.name} v${latest.version}` },
    });
    await pruneTemplateVersions(engine, template.id);
    return containerView(engine, engine.store.container(c.id)!);
  });
});

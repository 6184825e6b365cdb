import { RefreshRequest, ResetRequest, type BranchInfo, type ContainerInfo } from '../../server/protocol';
import type { ItemRef } from '../model/refs';
import { containerOf, withEngineProgress } from './pickers';
import type { Session } from './session';

/** Reset: discard the changes made on the active branch since its last operation. */
export async function reset(s: Session, ref?: ItemRef): Promise<BranchInfo | undefined> {
  const c = await containerOf(s, ref, 'Reset which container?');
  const ok = await s.ui.confirm(`Reset ${c.container}?`,
    'Every change made on the active branch since its last bookmark, restore or refresh (or since the branch was made) is discarded.', 'Reset');
  if (!ok) return undefined;
  const b = await withEngineProgress(s, `Resetting ${c.container}`,
    (opts) => s.engine.request(ResetRequest.type, { container: c.container }, opts));
  s.ui.info(`Branch ${b.name} of ${c.container} is reset.`);
  return b;
}

/** Refresh: replace the active branch's data with the template's latest version. */
export async function refresh(s: Session, ref?: ItemRef): Promise<ContainerInfo | undefined> {
  const c = await containerOf(s, ref, 'Refresh which container?');
  const ok = await s.ui.confirm(`Refresh ${c.container} from its template?`,
    'The active branch\'s data is replaced by the template\'s latest version. Bookmark first if you want to keep it.', 'Refresh');
  if (!ok) return undefined;
  const result = await withEngineProgress(s, `Refreshing ${c.container}`,
    (opts) => s.engine.request(RefreshRequest.type, { container: c.container }, opts));
  s.ui.info(`${result.name} now holds template ${result.template} v${result.templateVersion}.`);
  return result;
}

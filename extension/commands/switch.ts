import { BookmarkListRequest, BranchListRequest, ContainerShowRequest } from '../../server/protocol';
import { bookmarkRef } from '../model/nodes';
import { switchItems } from '../model/picks';
import type { ItemRef } from '../model/refs';
import { activateBranch, branchFromBookmark, createBranch } from './branches';
import { restore } from './bookmarks';
import { answered, containerOf } from './pickers';
import type { Session } from './session';

export type SwitchResult = 'activated' | 'restored' | 'branched' | 'created' | 'unchanged';

/** The status bar's quick pick: branches and recent bookmarks of the workspace's container; picking one switches. */
export async function switchBranch(s: Session, ref?: ItemRef): Promise<SwitchResult> {
  const c = await containerOf(s, ref, 'Switch which container?');
  const [container, branches, bookmarks] = await Promise.all([
    s.engine.request(ContainerShowRequest.type, { name: c.container }),
    s.engine.request(BranchListRequest.type, { container: c.container }),
    s.engine.request(BookmarkListRequest.type, {}),
  ]);
  const target = answered(await s.ui.pick(switchItems(container, branches, bookmarks.filter((b) => b.template === container.template)), {
    title: `${container.name}: switch to a branch or bookmark`, placeholder: `Active: ${container.activeBranch}`,
  }));
  switch (target.kind) {
    case 'branch':
      if (target.active) return 'unchanged';
      await activateBranch(s, { kind: 'branch', container: c.container, branch: target.branch, active: false });
      return 'activated';
    case 'newBranch':
      await createBranch(s, { kind: 'container', container: c.container, template: container.template });
      return 'created';
    case 'bookmark': {
      const bm = bookmarkRef(target.bookmark, s.user());
      const how = answered(await s.ui.pick<'restore' | 'branch'>([
        { label: `Branch from ${bm.name} and activate`, description: 'keeps the current branch as it is', value: 'branch' },
        { label: `Restore ${container.activeBranch} to ${bm.name}`, description: 'discards the active branch’s changes since', value: 'restore' },
      ], { title: `Bookmark ${bm.name}` }));
      if (how === 'branch') {
        await branchFromBookmark(s, bm);
        return 'branched';
      }
      return (await restore(s, bm)) ? 'restored' : 'unchanged';
    }
  }
}

import type { JournalOp, JournalRecord } from '../journal';
import type { Engine } from '../engine';
import type { Operation, Recover } from './operation';
import { recoverActivate } from './activate';
import { bookmarkCreate, recoverBookmarkCreate } from './bookmarkCreate';
import { bookmarkPull, recoverBookmarkPull } from './bookmarkPull';
import { bookmarkPush } from './bookmarkPush';
import { remoteAdd, remoteBookmarkList, remoteKey, remoteList, remoteRemove } from './remoteOps';
import { bookmarkDelete, bookmarkList, bookmarkShare, bookmarkShow, bookmarkTag, bookmarkUnshare } from './bookmarkOps';
import { branchCreate, recoverBranchCreate } from './branchCreate';
import { branchActivate, branchDelete, branchList, recoverBranchDelete } from './branchOps';
import { branchLink, branchUnlink } from './branchLink';
import { containerCreate, recoverContainerCreate } from './containerCreate';
import { containerDelete, recoverContainerDelete } from './containerDelete';
import { containerList, containerShow, containerUrl } from './containerRead';
import { containerStart } from './containerStart';
import { engineShutdown, engineStatus } from './engineOps';
import { refresh } from './refresh';
import { reset } from './reset';
import { restore } from './restore';
import { restoreToMoment } from './restoreToMoment';
import { recoverRewind } from './rewind';
import { finishSpareBuild } from '../spares';
import { finishDehydrate, recoverMaterialise } from '../coldBranches';
import { templateCreate, recoverTemplateCreate } from './templateCreate';
import { templateDelete, templateList } from './templateListDelete';
import { recoverTemplateRefresh, templateRefresh } from './templateRefresh';
import { timeline } from './timeline';
import { authenticate, userAdd, userList, userRemove, whoami } from './users';

/** Every operation the engine answers. A protocol request missing here is refused
 *  as an unknown method; the test suite checks that none is missing. */
export const operations: readonly Operation[] = [
  authenticate, whoami, userAdd, userList, userRemove,
  engineStatus, engineShutdown,
  templateCreate, templateRefresh, templateList, templateDelete,
  containerCreate, containerList, containerShow, containerDelete, containerStart, containerUrl,
  branchCreate, branchActivate, branchList, branchDelete, branchLink, branchUnlink,
  bookmarkCreate, bookmarkList, bookmarkShow, bookmarkShare, bookmarkUnshare, bookmarkTag, bookmarkDelete,
  restore, restoreToMoment, reset, refresh, timeline,
  remoteAdd, remoteList, remoteRemove, remoteKey, remoteBookmarkList, bookmarkPush, bookmarkPull,
];

/** Journal op name → how to finish or roll it back after a crash. A journaled operation
 *  missing here does not compile. */
export const recoveries: { [K in JournalOp]: Recover<K> } = {
  'template-create': recoverTemplateCreate,
  'template-refresh': recoverTemplateRefresh,
  'container-create': recoverContainerCreate,
  'container-delete': recoverContainerDelete,
  'branch-snapshot': recoverBranchCreate,
  'branch-create': recoverBranchCreate,
  'branch-delete': recoverBranchDelete,
  'bookmark-create': recoverBookmarkCreate,
  'bookmark-pull': recoverBookmarkPull,
  activate: recoverActivate,
  restore: recoverRewind,
  reset: recoverRewind,
  refresh: recoverRewind,
  'spare-build': finishSpareBuild,
  dehydrate: finishDehydrate,
  materialise: recoverMaterialise,
};

/** Run the recovery of `rec`'s operation. */
export function recoverEntry<K extends JournalOp>(engine: Engine, rec: JournalRecord<K>): Promise<void> {
  // The table holds Recover<K> at key K; indexing it with a generic K loses that pairing.
  const fix = recoveries[rec.op] as Recover<K>;
  return fix(engine, rec);
}

/**
 * Many bookmarks at once, for tests and benches that need 10,000 of them: 10,000
 * real ones would take hours with the blocks driver (each a stop, snapshot and
 * start). The engine's only bookmark is copied `copies` times straight into its
 * store (the engine must be stopped), with fresh ids and names and createdAt one
 * millisecond apart, so the copies are newer than it, `copy-1` the oldest.
 */
import { homeFiles } from '../../server/common/home';
import { newId } from '../../server/engine/ids';
import type { BookmarkRecord } from '../../server/engine/records';
import { Store } from '../../server/engine/store';

export async function seedBookmarks(home: string, copies: number): Promise<void> {
  const store = new Store(homeFiles(home).meta);
  try {
    const real = store.allBookmarks()[0];
    const base = Date.parse(real.createdAt);
    store.tx(() => {
      for (let i = 1; i <= copies; i++) {
        const copy: BookmarkRecord = { ...real, id: newId('bm'), name: `copy-${i}`, createdAt: new Date(base + i).toISOString() };
        store.putBookmark(copy);
      }
    });
  } finally {
    await store.close();
  }
}

/** How the CLI and the extension say what a push or pull moved. */
import type { TransferInfo } from '../protocol';

export function describeTransfer(t: TransferInfo, verb: 'sent' | 'received'): string {
  const mb = (t.bytesMoved / 2 ** 20).toFixed(1);
  return `${t.chunksMoved} of ${t.chunks} chunks ${verb} (${mb} MB)${t.templateMoved ? ', with its template version' : ''} in ${t.seconds.toFixed(1)} s; ${(t.bytesRead / 2 ** 20).toFixed(1)} MB read from disk`;
}

// A SNAP payload held in memory (as QuorumPacketDecoder.readSnapStream hands it
// out, without its signature) loaded through persistence's stream reader.

import { Readable } from 'node:stream';
import { JuteWriter } from '../../src/jute/archive.ts';
import { readSnapStream, SNAP_SIGNATURE } from '../../src/persistence/snapshot.ts';
import type { DataTree } from '../../src/tree/datatree.ts';

export function loadSnapPayload(stream: Buffer, zxid: number): Promise<DataTree> {
  const signature = new JuteWriter().ustring(SNAP_SIGNATURE).toBuffer();
  return readSnapStream(Readable.from([Buffer.concat([stream, signature])]), zxid);
}

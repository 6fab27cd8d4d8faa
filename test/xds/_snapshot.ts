/** Helpers shared by the snapshot tests: build a snapshot or fail, and decode an encoded resource. */
import { Snapshot } from '../../src/xds/snapshot.ts';
import type { SnapshotInput } from '../../src/xds/snapshot-input.ts';
import { messageType } from '../../src/protos/envoy.ts';
import type { PinRecord } from '../../src/core/ports.ts';

/** input is two application servers (listed out of order), the pins, and offPath when given. */
export const input = (pins: PinRecord[] = [], offPath?: SnapshotInput['offPath']): SnapshotInput => ({
  appServers: [
    { name: 'app-b', host: '127.0.0.1', port: 8082 },
    { name: 'app-a', host: '127.0.0.1', port: 8081 },
  ],
  pins,
  routeConfigName: 'presencelb-routes',
  virtualHostDomains: ['*'],
  identityHeader: 'x-user-id',
  ...(offPath ? { offPath } : {}),
});

/** decode turns an encoded resource back into a snake_case object (Any values as {type_url, value}). */
export const decode = (fullName: string, bytes: Uint8Array): any => {
  const type = messageType(fullName);
  return type.toObject(type.decode(bytes), { enums: String, longs: Number });
};

/** build returns the snapshot of input, and throws with the errors if there is none. */
export const build = (i: SnapshotInput): Snapshot => {
  const r = Snapshot.build(i);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};

/**
 * What a snapshot's listeners and routes need Envoy to hold, for make before break on addition: the clusters they
 * route to, and the assignments those clusters ask EDS for. Read through each resource type's references, once per
 * snapshot and resource (snapshots are immutable, so the answers are cached against them and go with them).
 */
import type { Snapshot } from './snapshot.ts';
import { resourceType, type ResourceReference, type XdsKind } from './resource-types/index.ts';

const CACHE = new WeakMap<Snapshot, Map<string, readonly ResourceReference[]>>();

/** referencesOf lists what the snapshot's resource kind/name refers to (none when the snapshot lacks it). */
export function referencesOf(snapshot: Snapshot, kind: XdsKind, name: string): readonly ResourceReference[] {
  let bySnapshot = CACHE.get(snapshot);
  if (!bySnapshot) CACHE.set(snapshot, (bySnapshot = new Map()));
  const key = `${kind}\n${name}`;
  let refs = bySnapshot.get(key);
  if (!refs) {
    const type = resourceType(kind);
    const object = snapshot.resources(kind).find((o) => type.nameOf(o) === name);
    refs = object ? type.references(object, kind) : [];
    bySnapshot.set(key, refs);
  }
  return refs;
}

/** clustersRoutedBy lists the clusters a listener or route configuration of snapshot routes to (a listener's through its route configurations). */
export function clustersRoutedBy(snapshot: Snapshot, kind: 'LDS' | 'RDS', name: string): string[] {
  return referencesOf(snapshot, kind, name).flatMap((r) => (r.kind === 'CDS' ? [r.name] : r.kind === 'RDS' && kind === 'LDS' ? clustersRoutedBy(snapshot, 'RDS', r.name) : []));
}

/** assignmentsOf lists the ClusterLoadAssignment names the snapshot's cluster asks EDS for (none for a cluster not of EDS type). */
export function assignmentsOf(snapshot: Snapshot, cluster: string): string[] {
  return referencesOf(snapshot, 'CDS', cluster).flatMap((r) => (r.kind === 'EDS' ? [r.name] : []));
}

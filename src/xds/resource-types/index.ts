/**
 * The resource types presencelb serves, in make-before-break order: when a snapshot changes several types, a
 * stream receives clusters, then endpoints, then listeners, then routes, so nothing Envoy receives refers to a
 * resource it has not been sent yet (xDS protocol, "Eventual consistency considerations").
 */
import type { XdsKind, XdsResourceType } from './resource-type.ts';
import { clusterType } from './cluster.ts';
import { endpointType } from './endpoint.ts';
import { listenerType } from './listener.ts';
import { routeConfigurationType } from './route.ts';

export type { XdsKind, XdsResourceType, ResourceReference } from './resource-type.ts';

/** RESOURCE_TYPES lists every served type in push order (CDS, EDS, LDS, RDS). */
export const RESOURCE_TYPES: readonly XdsResourceType[] = Object.freeze([
  clusterType as XdsResourceType,
  endpointType as XdsResourceType,
  listenerType as XdsResourceType,
  routeConfigurationType as XdsResourceType,
]);

const byUrl = new Map(RESOURCE_TYPES.map((t) => [t.typeUrl, t]));
const byKind = new Map(RESOURCE_TYPES.map((t) => [t.kind, t]));

/** resourceTypeByUrl returns the served type with this type URL, or undefined for a type presencelb does not serve. */
export const resourceTypeByUrl = (typeUrl: string): XdsResourceType | undefined => byUrl.get(typeUrl);

/** resourceType returns the served type of a kind. */
export const resourceType = (kind: XdsKind): XdsResourceType => byKind.get(kind)!;

/** typeUrlOfKind returns the type URL of a kind. */
export const typeUrlOfKind = (kind: XdsKind): string => resourceType(kind).typeUrl;

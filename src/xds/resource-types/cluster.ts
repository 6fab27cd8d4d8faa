/**
 * Cluster (CDS): one EDS cluster per application server, named exactly as the server, so that Envoy's
 * `xds.cluster_name` attribute and its upstream stats name the server. Endpoints come from the
 * ClusterLoadAssignment of the same name over ADS (see endpoint.ts).
 */
import type { SnapshotInput } from '../snapshot-input.ts';
import type { Result } from '../../core/result.ts';
import { Collector, encodeMessage, isNonEmptyString, typeUrlOf, type ResourceReference, type XdsResourceType } from './resource-type.ts';

const MESSAGE = 'envoy.config.cluster.v3.Cluster';

/** ClusterResource is the subset of envoy.config.cluster.v3.Cluster presencelb sets. */
export interface ClusterResource {
  readonly name: string;
  readonly type: 'EDS';
  readonly eds_cluster_config: {
    readonly eds_config: { readonly ads: Record<string, never>; readonly resource_api_version: 'V3' };
    /** service_name names the ClusterLoadAssignment when it differs from the cluster name. */
    readonly service_name?: string;
  };
  readonly connect_timeout: { readonly seconds: number; readonly nanos?: number };
  readonly lb_policy: 'ROUND_ROBIN';
}

/** CONNECT_TIMEOUT_SECONDS bounds how long Envoy waits for a TCP connection to an application server. */
export const CONNECT_TIMEOUT_SECONDS = 1;

/** assignmentNameOf returns the ClusterLoadAssignment name an EDS cluster asks for. */
export const assignmentNameOf = (c: ClusterResource): string => c.eds_cluster_config.service_name || c.name;

/** clusterType is the CDS strategy: wildcard subscriptions, one cluster per application server. */
export const clusterType: XdsResourceType<ClusterResource> = {
  kind: 'CDS',
  typeUrl: typeUrlOf(MESSAGE),
  wildcard: true,

  build(input: SnapshotInput): ClusterResource[] {
    return [...input.appServers]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => ({
        name: s.name,
        type: 'EDS',
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
        connect_timeout: { seconds: CONNECT_TIMEOUT_SECONDS },
        lb_policy: 'ROUND_ROBIN',
      }));
  },

  nameOf: (c) => c.name,

  validate(c: ClusterResource, path: string): Result<ClusterResource> {
    const v = new Collector();
    v.check(isNonEmptyString(c.name), `${path}.name`, 'a cluster needs a name');
    v.check(c.type === 'EDS', `${path}.type`, 'presencelb serves EDS clusters only');
    v.check(c.eds_cluster_config?.eds_config?.ads !== undefined, `${path}.eds_cluster_config.eds_config`, 'endpoints must come over ADS');
    const t = c.connect_timeout;
    v.check(t !== undefined && t.seconds >= 0 && (t.seconds > 0 || (t.nanos ?? 0) > 0), `${path}.connect_timeout`, 'must be positive');
    return v.result(c);
  },

  references(c: ClusterResource, path: string): ResourceReference[] {
    return [{ kind: 'EDS', name: assignmentNameOf(c), path: `${path}.eds_cluster_config` }];
  },

  encode: (c) => encodeMessage(MESSAGE, c),
};

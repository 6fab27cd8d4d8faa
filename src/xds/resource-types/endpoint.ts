/**
 * ClusterLoadAssignment (EDS): the endpoints of each application server's cluster; one locality, one endpoint
 * (the server's host:port). Envoy requires an IP address in an EDS socket address, so host must be one. The
 * locality is named and weighted although Envoy ignores both here: gRPC's xDS clients drop endpoints of an unnamed
 * or unweighted locality, and the same snapshot should serve both.
 */
import net from 'node:net';
import type { SnapshotInput } from '../snapshot-input.ts';
import type { Result } from '../../core/result.ts';
import { Collector, encodeMessage, isNonEmptyString, isPort, typeUrlOf, type XdsResourceType } from './resource-type.ts';

const MESSAGE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';

/** SocketAddress is envoy.config.core.v3.SocketAddress with a fixed port. */
export interface SocketAddress {
  readonly address: string;
  readonly port_value: number;
}

/** ClusterLoadAssignmentResource is the subset of envoy.config.endpoint.v3.ClusterLoadAssignment presencelb sets. */
export interface ClusterLoadAssignmentResource {
  readonly cluster_name: string;
  readonly endpoints: readonly {
    readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
    readonly load_balancing_weight?: { readonly value: number };
    readonly lb_endpoints: readonly { readonly endpoint: { readonly address: { readonly socket_address: SocketAddress } } }[];
  }[];
}

/** endpointType is the EDS strategy: named subscriptions, one assignment per application server. */
export const endpointType: XdsResourceType<ClusterLoadAssignmentResource> = {
  kind: 'EDS',
  typeUrl: typeUrlOf(MESSAGE),
  wildcard: false,

  build(input: SnapshotInput): ClusterLoadAssignmentResource[] {
    return [...input.appServers]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => ({
        cluster_name: s.name,
        endpoints: [
          {
            locality: { sub_zone: s.name },
            load_balancing_weight: { value: 1 },
            lb_endpoints: [{ endpoint: { address: { socket_address: { address: s.host, port_value: s.port } } } }],
          },
        ],
      }));
  },

  nameOf: (a) => a.cluster_name,

  validate(a: ClusterLoadAssignmentResource, path: string): Result<ClusterLoadAssignmentResource> {
    const v = new Collector();
    v.check(isNonEmptyString(a.cluster_name), `${path}.cluster_name`, 'an assignment needs the name of its cluster');
    (a.endpoints ?? []).forEach((locality, i) =>
      (locality.lb_endpoints ?? []).forEach((e, j) => {
        const p = `${path}.endpoints[${i}].lb_endpoints[${j}].endpoint.address.socket_address`;
        const sa = e.endpoint?.address?.socket_address;
        v.check(net.isIP(sa?.address ?? '') !== 0, `${p}.address`, `EDS endpoints need an IP address, got '${sa?.address}'`);
        v.check(isPort(sa?.port_value), `${p}.port_value`, 'must be a port 1-65535');
      }),
    );
    return v.result(a);
  },

  references: () => [],

  encode: (a) => encodeMessage(MESSAGE, a),
};

/**
 * Listener (LDS): listeners presencelb can serve when SnapshotInput.listeners asks for them. None are served by
 * default: the bootstrap's application listener is static, because its ext_proc filter must be in place before the
 * first request. Each listener's HTTP connection manager takes its routes over RDS via ADS (the snapshot's route
 * configuration) and ends with the router filter. A ListenerSpec without an address becomes an API listener, the
 * form gRPC's xDS clients (e.g. @grpc/grpc-js-xds) ask for by target name.
 */
import type { ListenerSpec, SnapshotInput } from '../snapshot-input.ts';
import type { Result } from '../../core/result.ts';
import { Collector, encodeMessage, isNonEmptyString, isPort, typeUrlOf, type ResourceReference, type XdsResourceType } from './resource-type.ts';

const MESSAGE = 'envoy.config.listener.v3.Listener';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

/** HttpConnectionManagerConfig is the subset of the HTTP connection manager presencelb sets, as an Any object. */
export interface HttpConnectionManagerConfig {
  readonly '@type': string;
  readonly stat_prefix: string;
  readonly rds: { readonly route_config_name: string; readonly config_source: { readonly ads: Record<string, never>; readonly resource_api_version: 'V3' } };
  readonly http_filters: readonly { readonly name: string; readonly typed_config: { readonly '@type': string } }[];
}

/** ListenerResource is the subset of envoy.config.listener.v3.Listener presencelb sets. */
export type ListenerResource =
  | {
      readonly name: string;
      readonly address: { readonly socket_address: { readonly address: string; readonly port_value: number } };
      readonly filter_chains: readonly { readonly filters: readonly { readonly name: string; readonly typed_config: HttpConnectionManagerConfig }[] }[];
    }
  | { readonly name: string; readonly api_listener: { readonly api_listener: HttpConnectionManagerConfig } };

function connectionManager(spec: ListenerSpec, routeConfigName: string): HttpConnectionManagerConfig {
  return {
    '@type': typeUrlOf(HCM),
    stat_prefix: spec.name,
    rds: { route_config_name: routeConfigName, config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': typeUrlOf(ROUTER) } }],
  };
}

/** hcmOf returns the listener's HTTP connection manager, wherever it sits. */
function hcmOf(l: ListenerResource): { hcm: HttpConnectionManagerConfig | undefined; at: string } {
  if ('api_listener' in l) return { hcm: l.api_listener?.api_listener, at: 'api_listener.api_listener' };
  return { hcm: l.filter_chains?.[0]?.filters?.[0]?.typed_config, at: 'filter_chains[0].filters[0].typed_config' };
}

/** listenerType is the LDS strategy: wildcard subscriptions; built only from SnapshotInput.listeners. */
export const listenerType: XdsResourceType<ListenerResource> = {
  kind: 'LDS',
  typeUrl: typeUrlOf(MESSAGE),
  wildcard: true,

  build(input: SnapshotInput): ListenerResource[] {
    return [...(input.listeners ?? [])]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((spec): ListenerResource => {
        const hcm = connectionManager(spec, input.routeConfigName);
        if (!spec.address) return { name: spec.name, api_listener: { api_listener: hcm } };
        return {
          name: spec.name,
          address: { socket_address: { address: spec.address.host, port_value: spec.address.port } },
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
        };
      });
  },

  nameOf: (l) => l.name,

  validate(l: ListenerResource, path: string): Result<ListenerResource> {
    const v = new Collector();
    v.check(isNonEmptyString(l.name), `${path}.name`, 'a listener needs a name');
    if ('address' in l) v.check(isPort(l.address?.socket_address?.port_value), `${path}.address.socket_address.port_value`, 'must be a port 1-65535');
    const { hcm, at } = hcmOf(l);
    if (v.check(hcm !== undefined, `${path}.${at}`, 'an HTTP connection manager is needed')) {
      v.check(isNonEmptyString(hcm?.rds?.route_config_name), `${path}.${at}.rds.route_config_name`, 'routes must come over RDS');
      v.check(hcm?.http_filters?.at(-1)?.typed_config?.['@type'] === typeUrlOf(ROUTER), `${path}.${at}.http_filters`, 'the router must be the last HTTP filter');
    }
    return v.result(l);
  },

  references(l: ListenerResource, path: string): ResourceReference[] {
    const { hcm, at } = hcmOf(l);
    return hcm ? [{ kind: 'RDS', name: hcm.rds.route_config_name, path: `${path}.${at}.rds.route_config_name` }] : [];
  },

  encode: (l) => encodeMessage(MESSAGE, l),
};

/**
 * RouteConfiguration (RDS): the one route table of the application listener. Its single virtual host holds, in
 * order, one route per pin (config xds.pins: routes; the user's identity header equals the pinned UUID → the pinned
 * server's cluster), one steering route per application server (xds.pins: header; the pin header ext_proc sets
 * names the server → its cluster), and then the default route, which spreads requests over every application server with equal weights. Envoy picks a
 * weighted cluster when it resolves the route, so `xds.cluster_name` names the chosen server either way.
 */
import type { PinRecord } from '../../core/ports.ts';
import type { SnapshotInput } from '../snapshot-input.ts';
import type { Result } from '../../core/result.ts';
import { Collector, encodeMessage, isNonEmptyString, typeUrlOf, type ResourceReference, type XdsResourceType } from './resource-type.ts';

const MESSAGE = 'envoy.config.route.v3.RouteConfiguration';

/** VIRTUAL_HOST_NAME is the name of the one virtual host (it appears in Envoy's stats and config dumps). */
export const VIRTUAL_HOST_NAME = 'presencelb';
/** DEFAULT_ROUTE_NAME is the name of the weighted default route (Envoy's `xds.route_name` attribute). */
export const DEFAULT_ROUTE_NAME = 'default';
/** pinRouteName is the name of the route carrying a user's pin (Envoy's `xds.route_name` attribute). */
export const pinRouteName = (user: string): string => `pin:${user}`;
/** steeringRouteName is the name of the route that sends requests carrying the pin header for a server to it. */
export const steeringRouteName = (server: string): string => `pinned-to:${server}`;

/** HeaderMatcherResource is envoy.config.route.v3.HeaderMatcher restricted to a string match. */
export interface HeaderMatcherResource {
  readonly name: string;
  readonly string_match: { readonly exact?: string; readonly ignore_case?: boolean; readonly safe_regex?: { readonly regex: string } };
}

/** RouteResource is the subset of envoy.config.route.v3.Route presencelb sets. */
export interface RouteResource {
  readonly name: string;
  readonly match: { readonly prefix: string; readonly headers?: readonly HeaderMatcherResource[] };
  readonly route:
    | { readonly cluster: string }
    | { readonly weighted_clusters: { readonly clusters: readonly { readonly name: string; readonly weight: { readonly value: number } }[] } };
}

/** RouteConfigurationResource is the subset of envoy.config.route.v3.RouteConfiguration presencelb sets. */
export interface RouteConfigurationResource {
  readonly name: string;
  readonly virtual_hosts: readonly { readonly name: string; readonly domains: readonly string[]; readonly routes: readonly RouteResource[] }[];
}

/**
 * pinRoute matches every request whose identity header equals the pinned UUID. The match ignores case because
 * parseUserId accepts a UUID in either case; pins always carry the canonical lower-case form.
 */
function pinRoute(pin: PinRecord, header: string): RouteResource {
  return {
    name: pinRouteName(pin.user),
    match: { prefix: '/', headers: [{ name: header, string_match: { exact: pin.user, ignore_case: true } }] },
    route: { cluster: pin.appServer },
  };
}

/**
 * steeringRoute matches every request whose pin header names the server. Server names are lower-case (config
 * schema), and ext_proc writes them exactly, so the match is exact.
 */
function steeringRoute(server: string, header: string): RouteResource {
  return {
    name: steeringRouteName(server),
    match: { prefix: '/', headers: [{ name: header, string_match: { exact: server } }] },
    route: { cluster: server },
  };
}

/** comparePins orders pins by user, then server: the route table's order does not depend on pin history. */
const comparePins = (a: PinRecord, b: PinRecord): number =>
  a.user < b.user ? -1 : a.user > b.user ? 1 : a.appServer < b.appServer ? -1 : a.appServer > b.appServer ? 1 : 0;

/** routeConfigurationType is the RDS strategy: named subscriptions, one route configuration. */
export const routeConfigurationType: XdsResourceType<RouteConfigurationResource> = {
  kind: 'RDS',
  typeUrl: typeUrlOf(MESSAGE),
  wildcard: false,

  build(input: SnapshotInput): RouteConfigurationResource[] {
    const servers = [...input.appServers].map((s) => s.name).sort();
    const defaultRoute: RouteResource = {
      name: DEFAULT_ROUTE_NAME,
      match: { prefix: '/' },
      route: { weighted_clusters: { clusters: servers.map((name) => ({ name, weight: { value: 1 } })) } },
    };
    const pinned = [...input.pins].sort(comparePins).map((p) => pinRoute(p, input.identityHeader));
    const steering = input.pinHeader ? servers.map((s) => steeringRoute(s, input.pinHeader!)) : [];
    return [
      {
        name: input.routeConfigName,
        virtual_hosts: [{ name: VIRTUAL_HOST_NAME, domains: [...input.virtualHostDomains], routes: [...pinned, ...steering, defaultRoute] }],
      },
    ];
  },

  nameOf: (rc) => rc.name,

  validate(rc: RouteConfigurationResource, path: string): Result<RouteConfigurationResource> {
    const v = new Collector();
    v.check(isNonEmptyString(rc.name), `${path}.name`, 'a route configuration needs a name');
    const vhosts = rc.virtual_hosts ?? [];
    v.check(vhosts.length > 0, `${path}.virtual_hosts`, 'at least one virtual host is needed');
    const seenDomains = new Set<string>();
    vhosts.forEach((vh, i) => {
      const vp = `${path}.virtual_hosts[${i}]`;
      v.check(isNonEmptyString(vh.name), `${vp}.name`, 'a virtual host needs a name');
      v.check((vh.domains ?? []).length > 0, `${vp}.domains`, 'at least one domain is needed');
      (vh.domains ?? []).forEach((d, j) => {
        v.check(!seenDomains.has(d), `${vp}.domains[${j}]`, `domain '${d}' appears twice`);
        seenDomains.add(d);
      });
      const names = new Set<string>();
      (vh.routes ?? []).forEach((r, j) => {
        const rp = `${vp}.routes[${j}]`;
        v.check(!names.has(r.name), `${rp}.name`, `route name '${r.name}' appears twice`);
        names.add(r.name);
        v.check(isNonEmptyString(r.match?.prefix), `${rp}.match.prefix`, 'a prefix is needed');
        (r.match?.headers ?? []).forEach((h, k) => v.check(isNonEmptyString(h.name), `${rp}.match.headers[${k}].name`, 'a header name is needed'));
        if ('cluster' in r.route) {
          v.check(isNonEmptyString(r.route.cluster), `${rp}.route.cluster`, 'a cluster name is needed');
        } else {
          const wc = r.route.weighted_clusters?.clusters ?? [];
          v.check(wc.length > 0, `${rp}.route.weighted_clusters.clusters`, 'at least one cluster is needed');
          wc.forEach((c, k) => v.check(Number.isInteger(c.weight?.value) && c.weight.value > 0, `${rp}.route.weighted_clusters.clusters[${k}].weight`, 'must be a positive integer'));
        }
      });
    });
    return v.result(rc);
  },

  references(rc: RouteConfigurationResource, path: string): ResourceReference[] {
    return (rc.virtual_hosts ?? []).flatMap((vh, i) =>
      (vh.routes ?? []).flatMap((r, j) => {
        const rp = `${path}.virtual_hosts[${i}].routes[${j}].route`;
        return 'cluster' in r.route
          ? [{ kind: 'CDS' as const, name: r.route.cluster, path: `${rp}.cluster` }]
          : r.route.weighted_clusters.clusters.map((c, k) => ({ kind: 'CDS' as const, name: c.name, path: `${rp}.weighted_clusters.clusters[${k}].name` }));
      }),
    );
  },

  encode: (rc) => encodeMessage(MESSAGE, rc),
};

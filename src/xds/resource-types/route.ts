/**
 * RouteConfiguration (RDS): the one route table of the application listener. Its single virtual host holds, in
 * order, one route per pin (config xds.pins: routes; the user's identity header equals the pinned UUID → the pinned
 * server's cluster), one steering route per application server (xds.pins: header; the pin header ext_proc sets
 * names the server → its cluster), and then the default route, which spreads requests over every application server with equal weights. Envoy picks a
 * weighted cluster when it resolves the route, so `xds.cluster_name` names the chosen server either way.
 *
 * Off-path users (config extProc.offPath; input.offPath): once presencelb grants a user's requests at once, nothing
 * it does on them needs ext_proc, and Envoy's access log reports their flows. The virtual host then resolves routes
 * with a match tree instead of a route list: the identity header is looked up in a map (a hash lookup, not a scan),
 * and an off-path user's entry is a route with ext_proc disabled for it — to the user's pinned server if pinned,
 * else the default. Every other request falls through to the route list above, ext_proc and all.
 *
 * How ext_proc is disabled depends on when the identity header is there (offPath.identityAtStart):
 * - from a trusted gateway (identity.source header), the route Envoy picks before it makes the request's filter
 *   chain is already the user's: a route.v3.FilterConfig with `disabled` keeps the ext_proc filter out of that chain,
 *   so Envoy does not even make it (about 0.01 ms of Envoy's CPU a request less; ARCHITECTURE.md);
 * - from a JWT, jwt_authn sets the header after the chain is made and Envoy picks the route again. A FilterConfig
 *   is only read when the chain is made, so there the filter's own ExtProcPerRoute `disabled` is used: the filter is
 *   made, reads its route's config when the request reaches it, and lets the request by.
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

/** OFF_PATH_ROUTE_NAME names the route of an off-path user who is not pinned (Envoy's `xds.route_name` attribute). */
export const OFF_PATH_ROUTE_NAME = 'off-path';
const ROUTE_MESSAGE = 'envoy.config.route.v3.Route';
const ROUTE_LIST_MESSAGE = 'envoy.config.route.v3.RouteList';
const HEADER_INPUT = 'envoy.type.matcher.v3.HttpRequestHeaderMatchInput';
const EXT_PROC_PER_ROUTE = 'envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute';
const FILTER_CONFIG = 'envoy.config.route.v3.FilterConfig';

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
  /**
   * typed_per_filter_config of an off-path user's route: ext_proc disabled, by a FilterConfig or the filter's own
   * ExtProcPerRoute (a proto map, as {key, value} entries).
   */
  readonly typed_per_filter_config?: readonly { readonly key: string; readonly value: { readonly '@type': string; readonly disabled: boolean } }[];
}

/** RouteAction is a match tree's action: a Route (an off-path user's entry) or a RouteList (everyone else). */
type RouteAction =
  | { readonly name: string; readonly typed_config: RouteResource & { readonly '@type': string } }
  | { readonly name: string; readonly typed_config: { readonly '@type': string; readonly routes: readonly RouteResource[] } };

/** UserMatcherResource is the xds.type.matcher.v3.Matcher of a virtual host with off-path users. */
export interface UserMatcherResource {
  readonly matcher_tree: {
    readonly input: { readonly name: string; readonly typed_config: { readonly '@type': string; readonly header_name: string } };
    /** map is a proto map; the descriptor image gives protobufjs its entries as a list of {key, value}. */
    readonly exact_match_map: { readonly map: readonly { readonly key: string; readonly value: { readonly action: RouteAction } }[] };
  };
  readonly on_no_match: { readonly action: RouteAction };
}

/** VirtualHostResource has routes, or (with off-path users) a matcher; never both. */
export interface VirtualHostResource {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes?: readonly RouteResource[];
  readonly matcher?: UserMatcherResource;
}

/** RouteConfigurationResource is the subset of envoy.config.route.v3.RouteConfiguration presencelb sets. */
export interface RouteConfigurationResource {
  readonly name: string;
  readonly virtual_hosts: readonly VirtualHostResource[];
}

/**
 * routesOf lists every route a virtual host can resolve to, with its field path: its routes, or its matcher's
 * entries and then its fall-through list. listed is false for a match map's entries, which are not in a route list.
 */
export function routesOf(vh: VirtualHostResource, vp: string): { readonly route: RouteResource; readonly path: string; readonly listed: boolean }[] {
  if (!vh.matcher) return (vh.routes ?? []).map((route, j) => ({ route, path: `${vp}.routes[${j}]`, listed: true }));
  const tree = `${vp}.matcher.matcher_tree.exact_match_map.map`;
  const entries = (vh.matcher.matcher_tree?.exact_match_map?.map ?? []).map((m, k) => ({ route: m.value.action.typed_config as RouteResource, path: `${tree}[${k}].value.action.typed_config`, listed: false }));
  const rest = vh.matcher.on_no_match?.action?.typed_config;
  const list = rest && 'routes' in rest ? rest.routes.map((route, j) => ({ route, path: `${vp}.matcher.on_no_match.action.typed_config.routes[${j}]`, listed: true })) : [];
  return [...entries, ...list];
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

/**
 * userMatcher is the match tree of a virtual host with off-path users: identity header → that user's route with
 * ext_proc disabled (to the pinned server, else the default route's clusters); anything else → the route list.
 */
function userMatcher(offPath: NonNullable<SnapshotInput['offPath']>, input: SnapshotInput, defaultRoute: RouteResource, routes: readonly RouteResource[]): UserMatcherResource {
  const pins = new Map<string, string>(input.pins.map((p) => [p.user, p.appServer]));
  const disabledBy = offPath.identityAtStart ? FILTER_CONFIG : EXT_PROC_PER_ROUTE;
  const off = [{ key: offPath.extProcFilter, value: { '@type': typeUrlOf(disabledBy), disabled: true } }];
  const action = (route: RouteResource): { action: RouteAction } => ({ action: { name: route.name, typed_config: { '@type': typeUrlOf(ROUTE_MESSAGE), ...route } } });
  // Every user who is not pinned shares one value object: encode() encodes it once (see encodeRouteConfiguration).
  const unpinned = action({ name: OFF_PATH_ROUTE_NAME, match: { prefix: '/' }, route: defaultRoute.route, typed_per_filter_config: off });
  const map: { key: string; value: { action: RouteAction } }[] = [];
  for (const user of [...offPath.users].sort()) {
    const server = pins.get(user);
    map.push({ key: user, value: server ? action({ name: pinRouteName(user), match: { prefix: '/' }, route: { cluster: server }, typed_per_filter_config: off }) : unpinned });
  }
  return {
    matcher_tree: { input: { name: 'identity', typed_config: { '@type': typeUrlOf(HEADER_INPUT), header_name: input.identityHeader } }, exact_match_map: { map } },
    on_no_match: { action: { name: 'routes', typed_config: { '@type': typeUrlOf(ROUTE_LIST_MESSAGE), routes } } },
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
    const routes = [...pinned, ...steering, defaultRoute];
    const offPath = input.offPath && input.offPath.users.length > 0 ? input.offPath : null;
    const vh: VirtualHostResource = offPath
      ? { name: VIRTUAL_HOST_NAME, domains: [...input.virtualHostDomains], matcher: userMatcher(offPath, input, defaultRoute, routes) }
      : { name: VIRTUAL_HOST_NAME, domains: [...input.virtualHostDomains], routes };
    return [{ name: input.routeConfigName, virtual_hosts: [vh] }];
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
      v.check(!(vh.routes && vh.matcher), `${vp}.matcher`, 'a virtual host has routes or a matcher, not both');
      if (vh.matcher) v.check((vh.matcher.matcher_tree?.exact_match_map?.map ?? []).length > 0, `${vp}.matcher.matcher_tree.exact_match_map.map`, 'a match map needs at least one entry');
      const names = new Set<string>();
      routesOf(vh, vp).forEach(({ route: r, path: rp, listed }) => {
        // Off-path entries share a name (or carry their pin's): names are unique in the route list.
        if (listed) {
          v.check(!names.has(r.name), `${rp}.name`, `route name '${r.name}' appears twice`);
          names.add(r.name);
        }
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
      routesOf(vh, `${path}.virtual_hosts[${i}]`).flatMap(({ route: r, path: p }) => {
        const rp = `${p}.route`;
        return 'cluster' in r.route
          ? [{ kind: 'CDS' as const, name: r.route.cluster, path: `${rp}.cluster` }]
          : r.route.weighted_clusters.clusters.map((c, k) => ({ kind: 'CDS' as const, name: c.name, path: `${rp}.weighted_clusters.clusters[${k}].name` }));
      }),
    );
  },

  encode: encodeRouteConfiguration,
};

/**
 * encodeRouteConfiguration encodes a route configuration. A match tree's entries hold their routes in Anys, and
 * protobufjs encodes the message inside an Any given as {'@type', ...} anew each time: with 10,000 off-path users
 * that was most of 0.4 s a snapshot. Here each distinct entry value (one object shared by every user who is not
 * pinned, one per pinned user) is encoded once, and the entries carry the encoded bytes ({type_url, value}).
 */
function encodeRouteConfiguration(rc: RouteConfigurationResource): Uint8Array {
  const cache = new Map<object, object>();
  const preEncoded = (v: { action: RouteAction }): object => {
    let e = cache.get(v);
    if (!e) {
      const { '@type': typeUrl, ...route } = v.action.typed_config;
      e = { action: { name: v.action.name, typed_config: { type_url: typeUrl, value: encodeMessage(ROUTE_MESSAGE, route) } } };
      cache.set(v, e);
    }
    return e;
  };
  const virtual_hosts = rc.virtual_hosts.map((vh) => {
    const m = vh.matcher;
    if (!m) return vh;
    const map = m.matcher_tree.exact_match_map.map.map((entry) => ({ key: entry.key, value: preEncoded(entry.value) }));
    return { ...vh, matcher: { ...m, matcher_tree: { ...m.matcher_tree, exact_match_map: { map } } } };
  });
  return encodeMessage(MESSAGE, { ...rc, virtual_hosts });
}

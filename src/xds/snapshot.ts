/**
 * Snapshot is the only thing the ADS server ever publishes (after go-control-plane's pkg/cache/v3/snapshot.go):
 * an immutable set of resources of every served type, each encoded once and shared by all streams, checked for
 * consistency before it can exist. Versions are derived from content: a resource's version is a digest of its name
 * and encoding, a type's version a digest of its resources' names and encodings, and the snapshot's version a
 * digest of the type versions, so they change exactly when content changes and are the same across presencelb
 * restarts for the same state. A type with one resource (RDS's route configuration) has that resource's version, so
 * the version Envoy reports for it is the same over state-of-the-world and incremental (delta) xDS.
 */
import { createHash } from 'node:crypto';
import type { FieldError, Result } from '../core/result.ts';
import { parseUserId } from '../core/user-id.ts';
import { RESOURCE_TYPES, type XdsKind, type XdsResourceType } from './resource-types/index.ts';
import { resourcePath } from './resource-types/resource-type.ts';
import type { SnapshotInput } from './snapshot-input.ts';

/** EncodedResource is one resource as sent: its name, its serialised message (the value of its Any) and its version. */
export interface EncodedResource {
  readonly name: string;
  readonly value: Uint8Array;
  /** version is the resource's own version (delta xDS Resource.version): a digest of name and value. */
  readonly version: string;
}

/** TypeSlice is one type's part of a snapshot. */
export interface TypeSlice {
  readonly version: string;
  /** resources maps names to encoded resources, in name order. */
  readonly resources: ReadonlyMap<string, EncodedResource>;
  /** objects are the resources as plain (deep-frozen) objects, in name order, for inspection and derived snapshots. */
  readonly objects: readonly object[];
}

/** ResourcesByKind gives the plain resource objects of each type; an absent kind means no resources of it. */
export type ResourcesByKind = Partial<Record<XdsKind, readonly object[]>>;

const digest = (parts: readonly (string | Uint8Array)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? `${p.length}:${p}` : p).update('\0');
  return h.digest('hex').slice(0, 16);
};

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Snapshot is an immutable, consistent, versioned set of xDS resources. Obtain one from build or fromResources. */
export class Snapshot {
  /** version identifies the content of the whole snapshot. */
  readonly version: string;
  readonly #slices: ReadonlyMap<XdsKind, TypeSlice>;

  private constructor(slices: Map<XdsKind, TypeSlice>) {
    this.#slices = slices;
    this.version = digest(RESOURCE_TYPES.map((t) => `${t.kind}=${slices.get(t.kind)!.version}`));
    Object.freeze(this);
  }

  /**
   * build makes the snapshot for input: it checks the input (every pin names a configured application server, at
   * most one pin per user, pins carry canonical UUIDs; errors carry input paths such as `pins[2].appServer`), then
   * builds every type's resources and checks them as fromResources does.
   */
  static build(input: SnapshotInput): Result<Snapshot> {
    const errors = checkInput(input);
    if (errors.length > 0) return { ok: false, errors };
    const resources: ResourcesByKind = {};
    for (const t of RESOURCE_TYPES) resources[t.kind] = t.build(input);
    return Snapshot.fromResources(resources);
  }

  /**
   * fromResources makes a snapshot from explicit resource objects. It validates each resource (paths
   * `KIND[name].field…`), rejects duplicate names, encodes each resource once, and fails with SNAPSHOT_INCONSISTENT
   * when a resource refers to one the snapshot lacks (a route's cluster, an EDS cluster's assignment, a listener's
   * route configuration).
   */
  static fromResources(resources: ResourcesByKind): Result<Snapshot> {
    const errors: FieldError[] = [];
    const valid = new Map<XdsKind, { type: XdsResourceType; list: object[] }>();
    // Names of every given resource, valid or not, so an invalid resource is reported once, not also as missing.
    const named = new Map<XdsKind, Set<string>>();
    for (const type of RESOURCE_TYPES) {
      const list: object[] = [];
      const seen = new Set<string>();
      named.set(type.kind, seen);
      for (const r of resources[type.kind] ?? []) {
        const name = type.nameOf(r);
        const path = resourcePath(type.kind, name);
        if (seen.has(name)) {
          errors.push({ code: 'CONFIG_INVALID', path, message: `two ${type.kind} resources are named '${name}'` });
          continue;
        }
        seen.add(name);
        const checked = type.validate(r, path);
        if (checked.ok) list.push(r);
        else errors.push(...checked.errors);
      }
      valid.set(type.kind, { type, list });
    }
    for (const { type, list } of valid.values()) {
      for (const r of list) {
        for (const ref of type.references(r, resourcePath(type.kind, type.nameOf(r)))) {
          if (!named.get(ref.kind)!.has(ref.name)) {
            errors.push({ code: 'SNAPSHOT_INCONSISTENT', path: ref.path, message: `refers to ${ref.kind} resource '${ref.name}', which the snapshot does not contain` });
          }
        }
      }
    }
    if (errors.length > 0) return { ok: false, errors };

    const slices = new Map<XdsKind, TypeSlice>();
    for (const { type, list } of valid.values()) {
      const objects = list.map((o) => deepFreeze(structuredClone(o))).sort((a, b) => (type.nameOf(a) < type.nameOf(b) ? -1 : type.nameOf(a) > type.nameOf(b) ? 1 : 0));
      const encoded = new Map<string, EncodedResource>();
      for (const o of objects) {
        const name = type.nameOf(o);
        try {
          const value = type.encode(o);
          encoded.set(name, Object.freeze({ name, value, version: digest([name, value]) }));
        } catch (e) {
          errors.push({ code: 'CONFIG_INVALID', path: resourcePath(type.kind, name), message: `does not encode: ${(e as Error).message}` });
        }
      }
      const version = digest([...encoded.values()].flatMap((r) => [r.name, r.value]));
      slices.set(type.kind, Object.freeze({ version, resources: encoded, objects: Object.freeze(objects) }));
    }
    if (errors.length > 0) return { ok: false, errors };
    return { ok: true, value: new Snapshot(slices) };
  }

  /** slice returns one type's resources and version (empty for a type the snapshot has none of). */
  slice(kind: XdsKind): TypeSlice {
    return this.#slices.get(kind)!;
  }

  /** typeVersion returns the version of one type's resources. */
  typeVersion(kind: XdsKind): string {
    return this.slice(kind).version;
  }

  /** typeVersions returns every type's version, in push order. */
  typeVersions(): Readonly<Record<XdsKind, string>> {
    return Object.freeze(Object.fromEntries(RESOURCE_TYPES.map((t) => [t.kind, this.typeVersion(t.kind)])) as Record<XdsKind, string>);
  }

  /** resources returns the resources of a kind as plain objects (derive a new snapshot with fromResources). */
  resources(kind: XdsKind): readonly object[] {
    return this.slice(kind).objects;
  }
}

/** checkInput reports the input-level problems build must refuse, with paths into the input. */
function checkInput(input: SnapshotInput): FieldError[] {
  const errors: FieldError[] = [];
  const servers = new Set(input.appServers.map((s) => s.name));
  const users = new Map<string, number>();
  input.pins.forEach((pin, i) => {
    errors.push(...canonicalUserErrors(pin.user, `pins[${i}].user`, 'pins must carry the canonical lower-case UUID'));
    if (users.has(pin.user)) errors.push({ code: 'CONFIG_INVALID', path: `pins[${i}].user`, message: `user is already pinned by pins[${users.get(pin.user)}]` });
    users.set(pin.user, i);
    if (!servers.has(pin.appServer)) {
      errors.push({ code: 'SNAPSHOT_INCONSISTENT', path: `pins[${i}].appServer`, message: `names application server '${pin.appServer}', which is not configured` });
    }
  });
  (input.offPath?.users ?? []).forEach((user, i) => errors.push(...canonicalUserErrors(user, `offPath.users[${i}]`, 'off-path users must be canonical lower-case UUIDs')));
  if (input.offPath && !input.offPath.extProcFilter) errors.push({ code: 'CONFIG_INVALID', path: 'offPath.extProcFilter', message: 'the ext_proc filter name is needed' });
  if (input.appServers.length === 0) errors.push({ code: 'CONFIG_INVALID', path: 'appServers', message: 'at least one application server is needed' });
  return errors;
}

/** canonicalUserErrors: none for a canonical UUID; parseUserId's errors, or IDENTITY_MALFORMED with `notCanonical`, else. */
function canonicalUserErrors(user: string, path: string, notCanonical: string): FieldError[] {
  const id = parseUserId(user, path);
  if (!id.ok) return [...id.errors];
  return id.value === user ? [] : [{ code: 'IDENTITY_MALFORMED', path, message: notCanonical }];
}

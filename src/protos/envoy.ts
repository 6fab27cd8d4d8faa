/**
 * Envoy's protos, loaded once from the buf descriptor image build/envoy.binpb (built by scripts/build-protos.sh).
 * Every adapter that speaks to Envoy (the xDS server, the ext_proc server) takes its message types and gRPC
 * service definitions from here, so the image is read and parsed at most once per process.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';

/** ENVOY_PROTO_IMAGE is the absolute path of the descriptor image, resolved from the repository root. */
export const ENVOY_PROTO_IMAGE = fileURLToPath(new URL('../../build/envoy.binpb', import.meta.url));

/**
 * PROTO_LOADER_OPTIONS are the @grpc/proto-loader options every grpc-js service built from the image uses:
 * field names as in the .proto files (snake_case), 64-bit integers and enums as strings, no default values filled
 * in (an absent field stays undefined, so presence can be told apart), one property naming each set oneof.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});

/** EnvoyProtos is the loaded image in the two forms presencelb needs. */
export interface EnvoyProtos {
  /**
   * root holds every message type of the image. Its types take snake_case field names in fromObject, resolve
   * `{'@type': 'type.googleapis.com/…', …}` objects inside Any fields, accept enum names as strings and Durations
   * as `{seconds, nanos}`.
   */
  readonly root: protobuf.Root;
  /** packageDefinition is the @grpc/proto-loader definition (PROTO_LOADER_OPTIONS), for custom service wiring. */
  readonly packageDefinition: protoLoader.PackageDefinition;
  /** grpc is packageDefinition loaded by grpc-js: `grpc.envoy.service.discovery.v3.AggregatedDiscoveryService`… */
  readonly grpc: GrpcObject;
}

let loaded: EnvoyProtos | undefined;

/**
 * envoyProtos returns the Envoy protos, reading and parsing the image on the first call only (about 0.3 s). It
 * throws if the image is missing: run `bash scripts/build-protos.sh`.
 */
export function envoyProtos(): EnvoyProtos {
  if (loaded) return loaded;
  let image: Buffer;
  try {
    image = fs.readFileSync(ENVOY_PROTO_IMAGE);
  } catch (cause) {
    throw new Error(`cannot read ${ENVOY_PROTO_IMAGE}; run 'bash scripts/build-protos.sh'`, { cause });
  }
  const fds = descriptor.FileDescriptorSet.decode(image);
  // fromDescriptor is added to Root by the descriptor extension; its typings do not declare it.
  const root = (protobuf.Root as unknown as { fromDescriptor(d: unknown): protobuf.Root }).fromDescriptor(fds);
  const packageDefinition = protoLoader.loadFileDescriptorSetFromBuffer(image, PROTO_LOADER_OPTIONS);
  loaded = Object.freeze({ root, packageDefinition, grpc: loadPackageDefinition(packageDefinition) });
  return loaded;
}

/** messageType looks up one message type of the image by its full name (without a leading dot); throws if absent. */
export function messageType(fullName: string): protobuf.Type {
  return envoyProtos().root.lookupType(fullName);
}

/**
 * serviceDefinition returns the grpc-js service definition of a service in the image by its full name (e.g.
 * 'envoy.service.ext_proc.v3.ExternalProcessor'), for Server.addService; throws if the image has no such service.
 */
export function serviceDefinition(fullName: string): ServiceDefinition {
  const def = envoyProtos().packageDefinition[fullName];
  if (!def || 'format' in def || 'fileDescriptorProtos' in def) throw new Error(`${fullName} is not a service of ${ENVOY_PROTO_IMAGE}`);
  return def as unknown as ServiceDefinition;
}

/** serviceClient returns the grpc-js client constructor of a service in the image by its full name; throws if absent. */
export function serviceClient(fullName: string): ServiceClientConstructor {
  let node: unknown = envoyProtos().grpc;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function') throw new Error(`${fullName} is not a service of ${ENVOY_PROTO_IMAGE}`);
  return node as ServiceClientConstructor;
}

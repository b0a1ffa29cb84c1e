import { createRequire } from "node:module";
import type { ServiceDefinition } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

/**
 * The SDK's own protocol definitions (protobufjs JSON shipped in the package), loaded the way the SDK loads
 * them (dist/milvus/utils/Grpc.js), so the server decodes exactly what the client encodes.
 */
const require = createRequire(import.meta.url);
const milvusJson = (require("@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.js") as { default: object })
  .default as protobuf.INamespace;

/** The SDK's LOADER_OPTIONS (grpc/GrpcClient.js). */
export const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export const SERVICE_NAME = "milvus.proto.milvus.MilvusService";

const root = protobuf.Root.fromJSON(milvusJson);
root.resolveAll();

const packageDefinition = protoLoader.fromJSON(
  milvusJson as Parameters<typeof protoLoader.fromJSON>[0],
  LOADER_OPTIONS,
);

export const MILVUS_SERVICE = packageDefinition[SERVICE_NAME] as unknown as ServiceDefinition;

/** Full name of each method's response message, e.g. "milvus.proto.common.Status". */
export function responseTypeName(method: string): string {
  const service = root.lookupService(SERVICE_NAME);
  const definition = service.methods[method];
  if (!definition?.resolvedResponseType) throw new Error(`unknown Milvus method ${method}`);
  return definition.resolvedResponseType.fullName.replace(/^\./, "");
}

/** Decode bytes carried inside a request (the collection schema, a placeholder group). */
export function decodeMessage<T>(typeName: string, bytes: Uint8Array): T {
  const type = root.lookupType(typeName);
  return type.toObject(type.decode(bytes), LOADER_OPTIONS) as T;
}

// The FetchPool service, loaded at run time from the fetchpool.proto this
// package ships (copied at build time); the types beside it in generated/
// come from the same file through proto-loader-gen-types.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/fetchpool';
import type { FetchPoolClient } from './generated/fetchpool/v1/FetchPool';

const PROTO_FILE = path.join(__dirname, '..', 'proto', 'fetchpool', 'v1', 'fetchpool.proto');

// Must match the flags of `npm run gen` so values have the generated types.
const LOADER_OPTIONS: protoLoader.Options = { longs: Number, enums: String, defaults: true, oneofs: true };

type FetchPoolConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => FetchPoolClient;

let fetchPoolConstructor: FetchPoolConstructor | undefined;

export function newFetchPoolClient(
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
): FetchPoolClient {
  if (!fetchPoolConstructor) {
    const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    fetchPoolConstructor = loaded.fetchpool.v1.FetchPool;
  }
  return new fetchPoolConstructor(address, credentials, options);
}

/**
 * A bidirectional gRPC method whose messages are the bytes themselves (no serializer), for tests
 * that look at what goes over a real grpc-js stream.
 *
 *   server.addService({ Chat: rawBidiMethod('/test.Echo/Chat') }, { Chat: (call) => ... });
 */
import type * as grpc from '@grpc/grpc-js';

const raw = (b: Buffer) => b;

export function rawBidiMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw };
}

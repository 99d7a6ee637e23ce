/**
 * A gRPC health probe as the kubelet runs one: grpc.health.v1.Health/Check over plaintext h2 to
 * the app, passing only on SERVING. Messages are encoded by protobufjs from the health proto's
 * two fields, and the call goes through @grpc/grpc-js.
 */
import { credentials, Client, Metadata } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { ProbeResult } from './probe.ts';

const root = protobuf.Root.fromJSON({
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: { fields: { status: { type: 'ServingStatus', id: 1 } }, nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } } },
              },
            },
          },
        },
      },
    },
  },
});
const Request = root.lookupType('grpc.health.v1.HealthCheckRequest');
const Response = root.lookupType('grpc.health.v1.HealthCheckResponse');
const STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

export function grpcHealthProbe(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeResult> {
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const client = new Client(target, credentials.createInsecure());
  const where = `gRPC probe ${target}${service ? ` service ${JSON.stringify(service)}` : ''}`;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (m: { service: string }) => Buffer.from(Request.encode(Request.create(m)).finish()),
      (b: Buffer) => Response.toObject(Response.decode(b), { enums: Number }) as { status?: number },
      { service },
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        client.close();
        if (err) return resolve({ healthy: false, message: `${where}: ${err.details || err.message}` });
        const st = res?.status ?? 0;
        resolve(st === 1 ? { healthy: true, message: '' } : { healthy: false, message: `${where}: ${STATUS[st] ?? st}` });
      },
    );
  });
}

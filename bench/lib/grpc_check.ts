/**
 * One unary call with gRPC's own client (@grpc/grpc-js) before a gRPC row is measured: h2load
 * counts any HTTP 200 as success and never reads grpc-status, so this is what shows that the
 * path really answers gRPC (frames, content-type, trailers) and not just HTTP/2.
 */
import { Client, credentials } from '@grpc/grpc-js';
import { GRPC_MESSAGE, GRPC_PATH } from './configs.ts';

/** Resolves 'ok' or the failure (status code and details) of one call to 127.0.0.1:`port`. */
export function grpcUnaryCheck(port: number): Promise<string> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const raw = (b: Buffer) => b;
  const deadline = new Date(Date.now() + 5000);
  return new Promise((resolve) => {
    client.makeUnaryRequest(GRPC_PATH, raw, raw, GRPC_MESSAGE.subarray(5), { deadline }, (err, res) => {
      client.close();
      if (err) resolve(`code ${err.code}: ${err.details}`);
      else if (!res || !res.equals(GRPC_MESSAGE.subarray(5))) resolve(`unexpected response ${res?.toString('hex')}`);
      else resolve('ok');
    });
  });
}

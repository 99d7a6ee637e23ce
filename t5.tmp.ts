import { loadPaths } from './src/api/load.ts';
import { crossValidate } from './src/api/validation/cross.ts';
import { formatValidationError } from './src/api/types.ts';
const D = '/work/shared/istio-data/istio/samples/';
const t0 = performance.now();
const r = loadPaths([D + 'bookinfo', D + 'httpbin/httpbin.yaml', D + 'sleep/sleep.yaml', D + 'curl/curl.yaml', D + 'helloworld/helloworld.yaml', D + 'tcp-echo']);
console.log(r.resources, r.configs.length, performance.now() - t0);
for (const e of r.errors) console.log(formatValidationError(e));
for (const e of crossValidate(r.configs)) console.log(formatValidationError(e));

import { loadPaths } from './src/api/load.ts';
import { crossValidate } from './src/api/validation/cross.ts';
import { formatValidationError } from './src/api/types.ts';
const r = loadPaths(['/work/shared/istio-data/istio/pkg/config/analysis/analyzers/testdata']);
const all = [...r.errors, ...crossValidate(r.configs)];
console.log(r.resources, r.configs.length, all.length);
for (const e of all) if (!/ignored|Gateway API|unsupported kind/.test(e.message)) console.log(formatValidationError(e).replace('/work/shared/istio-data/istio/pkg/config/analysis/analyzers/testdata/', ''));

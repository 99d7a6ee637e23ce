/** Analyzers of routing config: VirtualService, Gateway, schema and annotations. */
import type { Analyzer } from '../types.ts';
import { schemaValidationAnalyzer } from './schema_validation.ts';

export const NETWORKING_ANALYZERS: readonly Analyzer[] = [schemaValidationAnalyzer];

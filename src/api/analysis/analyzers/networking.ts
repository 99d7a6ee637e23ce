/** Analyzers of routing config: VirtualService, Gateway, schema and annotations. */
import type { Analyzer } from '../types.ts';
import { deprecationAnalyzer } from './deprecation.ts';
import { gatewayCertificateAnalyzer } from './gateway_certificate.ts';
import { conflictingGatewayAnalyzer } from './gateway_conflicting.ts';
import { schemaValidationAnalyzer } from './schema_validation.ts';
import { conflictingMeshGatewayHostsAnalyzer } from './virtualservice_conflictingmeshgatewayhosts.ts';
import { virtualServiceDestinationHostAnalyzer } from './virtualservice_destinationhosts.ts';
import { virtualServiceDestinationRuleAnalyzer } from './virtualservice_destinationrules.ts';
import { virtualServiceGatewayAnalyzer } from './virtualservice_gateways.ts';

export const NETWORKING_ANALYZERS: readonly Analyzer[] = [
  deprecationAnalyzer,
  gatewayCertificateAnalyzer,
  conflictingGatewayAnalyzer,
  schemaValidationAnalyzer,
  conflictingMeshGatewayHostsAnalyzer,
  virtualServiceDestinationHostAnalyzer,
  virtualServiceDestinationRuleAnalyzer,
  virtualServiceGatewayAnalyzer,
];

/**
 * `tsmesh agent --grpc-bootstrap <file>`: the workload agent for proxyless gRPC (Istio's
 * pilot-agent with no Envoy beside it). Gets the workload's certificate from the CA, keeps
 * cert-chain.pem, key.pem and root-cert.pem current in --cert-dir, and writes the gRPC xDS
 * bootstrap that @grpc/grpc-js-xds reads (GRPC_XDS_BOOTSTRAP). Prints one ready line once the
 * first certificate and the bootstrap are written, keeps rotating, exits 0 on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { parseLabels, writeBootstrap } from '../agent/bootstrap.ts';
import { AGENT_FLAG_OPTIONS, AGENT_FLAGS_HELP, agentOptionsFromFlags } from '../agent/flags.ts';
import { buildGrpcBootstrap, REFRESH_INTERVAL_SECONDS } from '../agent/grpc_bootstrap.ts';
import { writeCertFiles } from '../agent/cert_files.ts';
import { WorkloadAgent } from '../agent/workload_agent.ts';
import { log, setLogLevel } from '../proxy/logger.ts';

const HELP = `Usage: tsmesh agent --grpc-bootstrap <file> --token-file <file> --ca-root-cert <file> [flags]

Run the workload agent for proxyless gRPC: get the workload's certificate from the CA, keep it
rotated as files in --cert-dir, and write a gRPC xDS bootstrap (point GRPC_XDS_BOOTSTRAP at it)
whose 'default' file_watcher certificate provider reads them, as Istio's agent does.
A @grpc/grpc-js-xds server enforces AuthorizationPolicy only when started with
GRPC_XDS_EXPERIMENTAL_RBAC=true; without it, it refuses a listener that carries a policy and
does not serve.
A @grpc/grpc-js-xds client applies VirtualService faults and retries (retryOn gRPC status
names; no perTryTimeout) and DestinationRule outlierDetection (as failure-percentage ejection)
and consistentHash (ring hash on a header); @grpc/grpc-js-xds 1.14 has these on by default,
older releases need GRPC_XDS_EXPERIMENTAL_FAULT_INJECTION, GRPC_XDS_EXPERIMENTAL_ENABLE_RETRY,
GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION and GRPC_XDS_EXPERIMENTAL_ENABLE_RING_HASH =true.

Output:
  --grpc-bootstrap <file>       where to write the gRPC xDS bootstrap (required)
  --cert-dir <dir>              cert-chain.pem, key.pem, root-cert.pem (default: a certs/
                                directory beside the bootstrap)

Workload:
  --discovery-address <h:p>     control plane xDS address (default 127.0.0.1:15010)
  --namespace <ns>              namespace (default default)
  --service-account <sa>        service account (default default)
  --workload-name <name>        workload name (default workload)
  --pod-name <name>             pod/instance name in the node id (default: workload name)
  --labels k=v,...              workload labels
  --ip <ip>                     instance IP (default 127.0.0.1)

Certificate (--token-file and --ca-root-cert required):
${AGENT_FLAGS_HELP}

Options:
  -l, --log-level <level>       trace|debug|info|warning|error|critical|off (default info)
  -h, --help                    show this help
`;

export async function agentCommand(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        'grpc-bootstrap': { type: 'string' },
        'cert-dir': { type: 'string' },
        'discovery-address': { type: 'string' },
        namespace: { type: 'string' },
        'service-account': { type: 'string' },
        'workload-name': { type: 'string' },
        'pod-name': { type: 'string' },
        labels: { type: 'string' },
        ip: { type: 'string' },
        ...AGENT_FLAG_OPTIONS,
        'log-level': { type: 'string', short: 'l' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`tsmesh agent: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  let agent: WorkloadAgent;
  let bootstrapFile: string;
  let certDir: string;
  let bootstrap: (ttlSeconds: number) => ReturnType<typeof buildGrpcBootstrap>;
  try {
    if (v['log-level'] && !setLogLevel(String(v['log-level']))) throw new Error(`--log-level: unknown level ${v['log-level']}`);
    if (typeof v['grpc-bootstrap'] !== 'string') throw new Error('--grpc-bootstrap <file>: required (where the gRPC xDS bootstrap is written)');
    if (typeof v['token-file'] !== 'string') throw new Error('--token-file <file>: required (the workload token the CA authenticates)');
    bootstrapFile = resolve(v['grpc-bootstrap']);
    certDir = resolve(typeof v['cert-dir'] === 'string' ? v['cert-dir'] : join(dirname(bootstrapFile), 'certs'));
    const discoveryAddress = String(v['discovery-address'] ?? '127.0.0.1:15010');
    const namespace = String(v.namespace ?? 'default');
    const serviceAccount = String(v['service-account'] ?? 'default');
    const workloadName = String(v['workload-name'] ?? 'workload');
    const labels = v.labels ? parseLabels(String(v.labels)) : {};
    const opts = agentOptionsFromFlags(v, { discoveryAddress, namespace, serviceAccount })!;
    agent = new WorkloadAgent(opts);
    // gRPC must re-read the files well before the old certificate expires: the interval follows
    // the lifetime the CA actually gave (the agent may not have asked for one).
    bootstrap = (ttl) => buildGrpcBootstrap({
      discoveryAddress,
      certDir,
      refreshIntervalSeconds: Math.max(1, Math.min(REFRESH_INTERVAL_SECONDS, Math.floor(ttl / 4))),
      node: {
        type: 'sidecar',
        ip: String(v.ip ?? '127.0.0.1'),
        pod: String(v['pod-name'] ?? workloadName),
        namespace,
        app: labels.app ?? workloadName,
        labels,
        serviceAccount,
        workloadName,
        interception: 'NONE',
      },
    });
  } catch (e) {
    console.error(`tsmesh agent: ${(e as Error).message}`);
    return 2;
  }

  let done!: (code: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  const stop = (why: string) => {
    log.info(`agent: shutting down (${why})`);
    void agent.close().then(() => done(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  agent.on('issued', (cert) => {
    try {
      writeCertFiles(certDir, cert);
    } catch (e) {
      log.error(`agent: cannot write the certificate files into ${certDir}: ${(e as Error).message}`);
    }
  });
  agent.start();
  try {
    await agent.ready();
  } catch {
    return finished; // closed by a signal before the first certificate
  }
  try {
    const c = agent.current!;
    writeBootstrap(bootstrapFile, bootstrap((c.notAfter.getTime() - c.notBefore.getTime()) / 1000));
  } catch (e) {
    console.error(`tsmesh agent: cannot write ${bootstrapFile}: ${(e as Error).message}`);
    await agent.close();
    return 1;
  }
  console.log(`tsmesh agent ready: ${agent.identity}, certificate in ${certDir}, gRPC bootstrap ${bootstrapFile}`);
  return finished;
}

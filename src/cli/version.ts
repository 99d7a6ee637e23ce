/**
 * `tsmesh version` (istioctl version): this client's version, and with the control plane (the
 * default, `--remote=false` to skip it) the control plane's and every connected proxy's, grouped
 * by version as istioctl prints them:
 *   client version: 0.1.0
 *   control plane version: 0.1.0
 *   data plane version: 0.1.0 (12 proxies)
 * A proxy's version is the tsmesh build its node reports (user_agent_build_version, as Envoy
 * reports its own), else the ISTIO_VERSION of its node metadata (a real Envoy: what istioctl reads).
 */
import { stringify } from 'yaml';
import { TSMESH_VERSION } from '../common/version.ts';
import { parseFlags, one } from './flags.ts';

const HELP = `Usage: tsmesh version [--remote=false] [-s|--short[=false]] [-o json|yaml|short]

Prints the client version and, unless --remote=false, the control plane's and the connected
proxies' (istioctl version). The control plane is found as tsmesh apply finds it.

Flags:
  --remote[=true|false]   ask the control plane (default true)
  -s, --short[=bool]      version numbers only (default true); --short=false adds build details
  -o, --output <format>   json, yaml or short
  --controlplane <url>    the control plane's HTTP address (default: $TSMESH_CONTROLPLANE, else
                          the running demo's, else http://127.0.0.1:15014)
  -h, --help`;

/** istioctl's JSON shape: clientVersion, meshVersion[], dataPlaneVersion[]. */
export interface BuildInfo {
  version: string;
  revision: string;
  golang_version: string;
  status: string;
  tag: string;
}
export interface VersionOutput {
  clientVersion: BuildInfo;
  meshVersion?: Array<{ Component: string; Revision: string; Info: BuildInfo }>;
  dataPlaneVersion?: Array<{ ID: string; IstioVersion: string }>;
}

/** What /debug/version answers (src/controlplane/debug_describe.ts). */
export interface RemoteVersion {
  version: string;
  revision: string;
  proxies: Array<{ ID: string; IstioVersion: string; type?: string }>;
}

export function buildInfo(version: string): BuildInfo {
  return { version, revision: 'unknown', golang_version: `node ${process.versions.node}`, status: 'Clean', tag: version };
}

export function versionOutput(client: string, remote: RemoteVersion | undefined): VersionOutput {
  const out: VersionOutput = { clientVersion: buildInfo(client) };
  if (remote) {
    out.meshVersion = [{ Component: 'pilot', Revision: remote.revision, Info: buildInfo(remote.version) }];
    out.dataPlaneVersion = remote.proxies.map((p) => ({ ID: p.ID, IstioVersion: p.IstioVersion }));
  }
  return out;
}

/** istioctl's summary: "0.1.0 (12 proxies)", one entry per version, sorted; "none" without proxies. */
export function renderProxyVersions(proxies: ReadonlyArray<{ IstioVersion: string }>): string {
  if (proxies.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const p of proxies) counts.set(p.IstioVersion, (counts.get(p.IstioVersion) ?? 0) + 1);
  return [...counts.keys()]
    .sort()
    .map((v) => `${v} (${counts.get(v)} proxies)`)
    .join(', ');
}

function longForm(b: BuildInfo): string {
  return `version.BuildInfo{Version:"${b.version}", GitRevision:"${b.revision}", GolangVersion:"${b.golang_version}", BuildStatus:"${b.status}", GitTag:"${b.tag}"}`;
}

/** The text form: short (numbers only) as istioctl prints by default, or long. */
export function renderVersionText(v: VersionOutput, short: boolean): string[] {
  const lines: string[] = [];
  if (!v.meshVersion) {
    lines.push(short ? v.clientVersion.version : longForm(v.clientVersion));
    return lines;
  }
  lines.push(`client version: ${short ? v.clientVersion.version : longForm(v.clientVersion)}`);
  // istioctl coalesces identical control plane instances into "control plane".
  const identical = v.meshVersion.every((m) => m.Info.version === v.meshVersion![0]!.Info.version);
  const mesh = short && identical ? [{ ...v.meshVersion[0]!, Component: 'control plane' }] : v.meshVersion;
  for (const m of mesh) lines.push(`${m.Component} version: ${short ? m.Info.version : longForm(m.Info)}`);
  if (v.dataPlaneVersion) {
    if (short) lines.push(`data plane version: ${renderProxyVersions(v.dataPlaneVersion)}`);
    else for (const p of v.dataPlaneVersion) lines.push(`data plane version: version.ProxyInfo{ID:"${p.ID}", IstioVersion:"${p.IstioVersion}"}`);
  }
  return lines;
}

function boolFlag(value: string | undefined, flag: string): boolean | string {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  return `${flag} takes true or false, got ${JSON.stringify(value)}`;
}

export async function versionCommand(argv: string[]): Promise<number> {
  // --remote and --short are booleans that also take =false (Go's flag syntax).
  const bools: Record<string, string | undefined> = {};
  const rest: string[] = [];
  for (const a of argv) {
    const m = /^(--remote|--short|-s)(?:=(.*))?$/.exec(a);
    if (m) bools[m[1] === '-s' ? '--short' : m[1]!] = m[2] ?? 'true';
    else rest.push(a);
  }
  const parsed = parseFlags(rest, [{ name: 'output', alias: 'o' }, { name: 'controlplane' }, { name: 'help', alias: 'h', boolean: true }]);
  if (!parsed.ok) return usageError(parsed.error);
  if (parsed.flags.help) {
    console.log(HELP);
    return 0;
  }
  if (parsed.rest.length > 0) return usageError(`unexpected argument ${parsed.rest[0]}`);
  const remote = boolFlag(bools['--remote'], '--remote');
  let short = boolFlag(bools['--short'], '--short');
  if (typeof remote === 'string') return usageError(remote);
  if (typeof short === 'string') return usageError(short);
  const output = one(parsed.flags, 'output') ?? '';
  if (!['', 'json', 'yaml', 'short'].includes(output)) return usageError(`--output must be 'yaml', 'json' or 'short', got ${JSON.stringify(output)}`);
  if (output === 'short') short = true;

  let remoteVersion: RemoteVersion | undefined;
  if (remote) {
    const { controlPlaneGet, controlPlaneRef } = await import('./controlplane_client.ts');
    const r = await controlPlaneGet<RemoteVersion>(controlPlaneRef(one(parsed.flags, 'controlplane')), '/debug/version', { otherwise: 'or use --remote=false for the client version alone' });
    if ('error' in r) {
      console.error(`tsmesh version: ${r.error}${'status' in r ? '; use --remote=false for the client version alone' : ''}`);
      return 1;
    }
    remoteVersion = r.value;
  }
  const v = versionOutput(TSMESH_VERSION, remoteVersion);
  if (output === 'json') console.log(JSON.stringify(v, null, 2));
  else if (output === 'yaml') process.stdout.write(stringify(v));
  else console.log(renderVersionText(v, short).join('\n'));
  return 0;
}

function usageError(why: string): number {
  console.error(`tsmesh version: ${why}\n\n${HELP}`);
  return 2;
}

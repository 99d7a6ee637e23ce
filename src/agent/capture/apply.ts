/**
 * Applying and removing the capture rules in the current network namespace: iptables-restore
 * --noflush (ip6tables-restore for IPv6) or `nft -f`, plus what TPROXY and IPv6 need beside the
 * rules (policy routing for the mark, ::6 on lo). Cleanup removes what apply adds and nothing else.
 */
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { buildCaptureRules, iptablesRestoreLines, BUILTIN_CHAINS, type Family, type Rule, type Table } from './iptables_rules.ts';
import { nftFamily, nftScript, NFT_TABLE_PREFIX } from './nftables.ts';
import type { CaptureOptions } from './options.ts';
import { emptyTables, readState, removeState, savedTables, writeState, type CaptureState } from './table_state.ts';
import { parseResolvConf } from '../dns/resolv_conf.ts';

export type Backend = 'iptables' | 'nftables';

export class CaptureError extends Error {}

const HOW = "run it as root in the workload's network namespace";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with optional stdin; a missing binary is a CaptureError that names the package. */
export function run(cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(new CaptureError(`${cmd} not found: install ${cmd.startsWith('nft') ? 'nftables' : cmd.startsWith('ip') && !cmd.includes('tables') ? 'iproute2' : 'iptables'} (and ${HOW})`));
      else reject(err);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

async function must(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) {
    const msg = r.stderr.trim() || r.stdout.trim() || `exit code ${r.code}`;
    const perm = /permission denied|operation not permitted|you must be root/i.test(msg);
    throw new CaptureError(`${cmd} ${args.join(' ')} failed: ${msg}${perm ? ` (${HOW}; install iptables/nftables)` : ''}`);
  }
  return r.stdout;
}

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new CaptureError(`capture needs root: ${HOW} (e.g. ip netns exec <ns> tsmesh init ...)`);
  }
}

/**
 * Nameservers from a resolv.conf text, split by family (what Istio redirects to the agent). The
 * agent's own parser decides what a nameserver is: zones (fe80::1%eth0) stripped, non-IP values
 * dropped, so nothing unchecked reaches ip6tables-restore or the nft script.
 */
export function resolvConfServers(text: string): { v4: string[]; v6: string[] } {
  const { nameservers } = parseResolvConf(text);
  return { v4: nameservers.filter((ip) => isIP(ip) === 4), v6: nameservers.filter((ip) => isIP(ip) === 6) };
}

function families(o: CaptureOptions): Family[] {
  return o.enableIPv6 ? ['v4', 'v6'] : ['v4'];
}

const SAVE: Record<Family, string> = { v4: 'iptables-save', v6: 'ip6tables-save' };
const RESTORE: Record<Family, string> = { v4: 'iptables-restore', v6: 'ip6tables-restore' };
const IPT: Record<Family, string> = { v4: 'iptables', v6: 'ip6tables' };

/** Writes the capture rules into the current namespace. Re-running replaces a previous capture. */
export async function applyCapture(o: CaptureOptions, backend: Backend = 'iptables'): Promise<void> {
  requireRoot();
  const rules = buildCaptureRules(o);
  // What was there before the first init (a re-init keeps the original record; a record for a
  // namespace without our rules is a dead namespace's whose inode was reused).
  const prior = readState();
  const state = prior && (await captureInstalled()) ? prior : await snapshot();
  await removeCapture(o, backend);
  writeState(state);
  if (o.enableIPv6) {
    // ::6 on lo: the inbound passthrough's source address, which IPv6 lo does not have by default.
    const r = await run('ip', ['-6', 'addr', 'add', '::6/128', 'dev', 'lo']);
    if (r.code !== 0 && !/exists/i.test(r.stderr)) throw new CaptureError(`ip -6 addr add ::6/128 dev lo failed: ${r.stderr.trim()}`);
  }
  for (const fam of families(o)) {
    const list = fam === 'v4' ? rules.v4 : rules.v6;
    if (backend === 'nftables') {
      const script = nftScript(list, fam);
      if (script) await must('nft', ['-f', '-'], script);
    } else {
      const lines = iptablesRestoreLines(list);
      if (lines.length) await must(RESTORE[fam], ['--noflush', '-w'], `${lines.join('\n')}\n`);
    }
  }
  if (o.inboundInterceptionMode === 'TPROXY') {
    // Marked inbound packets are delivered locally, where TPROXY's socket takes them.
    for (const fam of families(o)) {
      const f = fam === 'v4' ? '-4' : '-6';
      await must('ip', [f, 'rule', 'add', 'fwmark', o.inboundTProxyMark, 'lookup', o.inboundTProxyRouteTable]);
      await must('ip', [f, 'route', 'add', 'local', 'default', 'dev', 'lo', 'table', o.inboundTProxyRouteTable]);
    }
  }
}

/**
 * Removes the capture: the rules these options add to built-in chains, any other jump into an
 * ISTIO_* chain, the ISTIO_* chains themselves (or the istio-proxy-* nft tables), TPROXY's policy
 * routing and ::6. Safe to run when nothing is installed.
 */
export async function cleanupCapture(o: CaptureOptions, backend: Backend = 'iptables'): Promise<void> {
  requireRoot();
  const recorded = readState();
  const state = recorded && (await captureInstalled()) ? recorded : undefined;
  await removeCapture(o, backend, state);
  if (state) await dropTablesInitMade(state);
  removeState();
}

/** Whether this namespace has ISTIO_* chains or istio-proxy-* nft tables. */
async function captureInstalled(): Promise<boolean> {
  for (const fam of ['v4', 'v6'] as const) {
    const r = await run(SAVE[fam], []).catch(() => undefined);
    if (r?.code === 0 && /^:ISTIO_/m.test(r.stdout)) return true;
  }
  const n = await run('nft', ['list', 'tables']).catch(() => undefined);
  return n?.code === 0 && n.stdout.includes(NFT_TABLE_PREFIX);
}

async function snapshot(): Promise<CaptureState> {
  const tables: CaptureState['tables'] = { v4: [], v6: [] };
  for (const fam of ['v4', 'v6'] as const) {
    const r = await run(SAVE[fam], []).catch(() => undefined);
    if (r?.code === 0) tables[fam] = savedTables(r.stdout);
  }
  const lo = await run('ip', ['-6', 'addr', 'show', 'dev', 'lo']).catch(() => undefined);
  return { tables, hadLoopback6: lo !== undefined && /inet6 ::6\/128/.test(lo.stdout) };
}

/** iptables (nf_tables) made these tables on first use; empty and new, they go again. */
async function dropTablesInitMade(state: CaptureState): Promise<void> {
  const v = await run('iptables', ['-V']).catch(() => undefined);
  if (!v?.stdout.includes('nf_tables')) return;
  for (const fam of ['v4', 'v6'] as const) {
    const r = await run(SAVE[fam], []).catch(() => undefined);
    if (r?.code !== 0) continue;
    for (const table of emptyTables(r.stdout)) {
      if (!state.tables[fam].includes(table)) await run('nft', ['delete', 'table', fam === 'v4' ? 'ip' : 'ip6', table]).catch(() => undefined);
    }
  }
}

async function removeCapture(o: CaptureOptions, backend: Backend, state?: CaptureState): Promise<void> {
  if (backend === 'nftables') await cleanupNft();
  else {
    const rules = buildCaptureRules(o);
    for (const fam of families(o)) await cleanupIptables(fam, fam === 'v4' ? rules.v4 : rules.v6);
  }
  if (o.inboundInterceptionMode === 'TPROXY') {
    for (const fam of families(o)) {
      const f = fam === 'v4' ? '-4' : '-6';
      // Deleted until gone: a rule added twice must not survive one cleanup.
      for (let i = 0; i < 16; i++) {
        const r = await run('ip', [f, 'rule', 'del', 'fwmark', o.inboundTProxyMark, 'lookup', o.inboundTProxyRouteTable]);
        if (r.code !== 0) break;
      }
      await run('ip', [f, 'route', 'flush', 'table', o.inboundTProxyRouteTable]);
    }
  }
  if (o.enableIPv6 && !state?.hadLoopback6) await run('ip', ['-6', 'addr', 'del', '::6/128', 'dev', 'lo']);
}

async function cleanupIptables(fam: Family, rules: readonly Rule[]): Promise<void> {
  const ipt = IPT[fam];
  // Our rules in built-in chains, deleted by specification (iptables matches them semantically).
  for (const r of [...rules].reverse()) {
    if (!BUILTIN_CHAINS.has(r.chain)) continue;
    await run(ipt, ['-w', '-t', r.table, '-D', r.chain, ...r.params]);
  }
  // Whatever still points into ISTIO_* chains (an init with other options), then the chains.
  const save = await run(SAVE[fam], []);
  if (save.code !== 0) {
    if (/not found|ENOENT/.test(save.stderr)) throw new CaptureError(`${SAVE[fam]} failed: ${save.stderr.trim()}`);
    return;
  }
  for (const [table, state] of parseSave(save.stdout)) {
    for (const line of state.builtinJumps) await run(ipt, ['-w', '-t', table, ...splitSaveLine(line.replace(/^-A /, '-D '))]);
    for (const chain of state.istioChains) await run(ipt, ['-w', '-t', table, '-F', chain]);
    for (const chain of state.istioChains) await run(ipt, ['-w', '-t', table, '-X', chain]);
  }
}

interface SavedTable {
  istioChains: string[];
  builtinJumps: string[];
}

/** From iptables-save: each table's ISTIO_* chains and the built-in-chain rules that jump to one. */
export function parseSave(text: string): Map<Table, SavedTable> {
  const out = new Map<Table, SavedTable>();
  let cur: SavedTable | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      cur = { istioChains: [], builtinJumps: [] };
      out.set(line.slice(1).trim() as Table, cur);
    } else if (cur && line.startsWith(':ISTIO_')) {
      cur.istioChains.push(line.slice(1).split(' ')[0]!);
    } else if (cur && line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      if (BUILTIN_CHAINS.has(chain) && / -j ISTIO_\S+/.test(line)) cur.builtinJumps.push(line);
    }
  }
  return out;
}

/** iptables-save quotes some arguments ("--comment \"x\""); split them back. */
function splitSaveLine(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

async function cleanupNft(): Promise<void> {
  const tables = await must('nft', ['list', 'tables']);
  for (const line of tables.split('\n')) {
    const m = /^table (ip|ip6|inet) (\S+)$/.exec(line.trim());
    if (m && m[2]!.startsWith(NFT_TABLE_PREFIX)) await must('nft', ['delete', 'table', m[1]!, m[2]!]);
  }
}

/** The rules as `--dry-run` prints them: iptables-restore input, or the nft script. */
export function renderCapture(o: CaptureOptions, backend: Backend = 'iptables'): string {
  const rules = buildCaptureRules(o);
  const out: string[] = [];
  for (const fam of families(o)) {
    const list = fam === 'v4' ? rules.v4 : rules.v6;
    if (backend === 'nftables') {
      const s = nftScript(list, fam);
      if (s) out.push(`# ${nftFamily(fam)}: nft -f -`, s.trimEnd());
    } else {
      const lines = iptablesRestoreLines(list);
      if (lines.length) out.push(`# ${RESTORE[fam]} --noflush`, ...lines);
    }
  }
  if (o.inboundInterceptionMode === 'TPROXY') {
    for (const fam of families(o)) {
      const f = fam === 'v4' ? '-4' : '-6';
      out.push(`# ip ${f} rule add fwmark ${o.inboundTProxyMark} lookup ${o.inboundTProxyRouteTable}`, `# ip ${f} route add local default dev lo table ${o.inboundTProxyRouteTable}`);
    }
  }
  return `${out.join('\n')}\n`;
}

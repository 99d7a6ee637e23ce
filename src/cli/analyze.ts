/**
 * `tsmesh analyze` (istioctl analyze): cross-resource checks on Istio configuration — routes to
 * hosts, subsets and gateways that do not exist, conflicting gateways, misplaced annotations,
 * and the rest of istioctl's analyzers — over YAML files, the running control plane's config
 * (--live), or both (files applied on top). Messages, formats and exit codes are istioctl's.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ALL_ANALYZERS } from '../api/analysis/analyzers/index.ts';
import { isObject, listFiles, parseResources, resourcesFromConfigs, type ParseError } from '../api/analysis/load.ts';
import { analyze, parseSuppression, type Suppression } from '../api/analysis/run.ts';
import { atLeast, EXIT_ANALYZER_FOUND_ISSUES, EXIT_BAD_FLAGS, EXIT_FILE_PARSE_ERROR, formatJson, formatYaml, logLine, parseLevel } from '../api/analysis/report.ts';
import type { Level, Resource } from '../api/analysis/types.ts';
import { controlPlaneGet, controlPlaneRef } from './controlplane_client.ts';

const HELP = `Analyze Istio configuration and print validation messages.
For more information about message codes, refer to:
https://istio.io/latest/docs/reference/config/analysis

Usage:
  tsmesh analyze [<file|dir>...] [flags]

Examples:
  # Analyze the running control plane's config (tsmesh demo / tsmesh controlplane)
  tsmesh analyze

  # Analyze yaml files without a running control plane
  tsmesh analyze --use-kube=false a.yaml b.yaml my-app-config/

  # Analyze the running config, simulating the effect of applying additional yaml files
  tsmesh analyze --live a.yaml

  # Suppress PodMissingProxy for pod mypod in namespace 'testing'
  tsmesh analyze -S "IST0103=Pod mypod.testing" a.yaml

Flags:
  -f, --filename <path>          file or directory to analyze, recursively (repeatable; plain arguments work too)
  -R, --recursive                accepted for istioctl compatibility: directories are always read recursively
      --live                     analyze the running control plane's config (the default when no file is given);
                                 -k/--use-kube is the same; --use-kube=false analyzes files only, and like
                                 istioctl skips the analyzers of Kubernetes objects (Pods, Services, ...);
                                 without it those run on the Kubernetes objects in the files
      --controlplane <url>       control plane debug address for --live (default: the running demo, else 127.0.0.1:15014)
  -A, --all-namespaces           analyze all namespaces
  -n, --namespace <ns>           namespace to analyze, and of objects that name none (default "default")
  -o, --output <fmt>             one of [log json yaml] (default "log")
      --failure-threshold <lvl>  level at which to exit non-zero (79): one of [Info Warning Error] (default Error)
      --output-threshold <lvl>   level at which to display messages: one of [Info Warning Error] (default Info)
  -S, --suppress <code=resource> suppress a message code on a resource, e.g. "IST0102=Namespace frod" or
                                 "IST0101=VirtualService *.default" (repeatable; * matches anything)
      --meshConfigFile <file>    mesh config to use for analysis (MeshConfig YAML)
      --analyzer <name>          run only this analyzer (repeatable; see -L)
  -L, --list-analyzers           list the analyzers available to run
      --ignore-unknown           do not complain about documents that are not Kubernetes objects
      --color[=false]            color levels on a terminal (default true)
  -h, --help                     show this help

Exit codes: 0 no issues at the failure threshold; 79 issues found (log output only, as istioctl);
65 a file could not be parsed; 64 bad flags; 1 an input cannot be read.
Resources may also carry the annotation galley.istio.io/analyze-suppress: "IST0101,IST0102" (or "*").`;

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

class UsageError extends Error {}

interface Flags {
  files: string[];
  live?: boolean;
  /** --use-kube=false given: istioctl's file-only mode (skips analyzers of Kubernetes objects). */
  fileMode: boolean;
  controlplane?: string;
  allNamespaces: boolean;
  namespace?: string;
  output: 'log' | 'json' | 'yaml';
  failureThreshold: Level;
  outputThreshold: Level;
  suppressions: Suppression[];
  meshConfigFile?: string;
  analyzers: string[];
  list: boolean;
  ignoreUnknown: boolean;
  color: boolean;
  help: boolean;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { files: [], fileMode: false, allNamespaces: false, output: 'log', failureThreshold: 'Error', outputThreshold: 'Info', suppressions: [], analyzers: [], list: false, ignoreUnknown: false, color: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`flag needs an argument: ${flag}`);
      return v;
    };
    const bool = () => {
      if (inline === undefined) return true;
      if (/^(true|1)$/i.test(inline)) return true;
      if (/^(false|0)$/i.test(inline)) return false;
      throw new UsageError(`invalid argument "${inline}" for "${flag}" flag: use true or false`);
    };
    const level = () => {
      const v = value();
      const l = parseLevel(v);
      if (!l) throw new UsageError(`invalid argument "${v}" for "${flag}" flag: invalid level option (valid values: Info, Warning, Error)`);
      return l;
    };
    switch (flag) {
      case '-h': case '--help': f.help = true; break;
      case '-f': case '--filename': f.files.push(value()); break;
      case '-R': case '--recursive': bool(); break;
      case '--live': f.live = bool(); break;
      case '-k': case '--use-kube': f.live = bool(); f.fileMode = !f.live; break;
      case '--controlplane': f.controlplane = value(); break;
      case '-A': case '--all-namespaces': f.allNamespaces = bool(); break;
      case '-n': case '--namespace': f.namespace = value(); break;
      case '-o': case '--output': {
        const v = value();
        if (v !== 'log' && v !== 'json' && v !== 'yaml') throw new UsageError(`invalid output format "${v}": use one of [log json yaml]`);
        f.output = v;
        break;
      }
      case '--failure-threshold': f.failureThreshold = level(); break;
      case '--output-threshold': f.outputThreshold = level(); break;
      case '-S': case '--suppress':
        try {
          f.suppressions.push(parseSuppression(value()));
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        break;
      case '--meshConfigFile': f.meshConfigFile = value(); break;
      case '--analyzer': f.analyzers.push(value()); break;
      case '-L': case '--list-analyzers': f.list = bool(); break;
      case '--ignore-unknown': f.ignoreUnknown = bool(); break;
      case '--color': f.color = bool(); break;
      case '-v': case '--verbose': bool(); break;
      case '--timeout': case '-r': case '--revision': value(); break;
      default:
        if (flag.startsWith('-') && flag !== '-') throw new UsageError(`unknown flag: ${flag}`);
        f.files.push(arg);
    }
  }
  return f;
}

export async function analyzeCommand(argv: string[], out: Output = console, isTTY = Boolean(process.stdout.isTTY)): Promise<number> {
  let f: Flags;
  try {
    f = parseFlags(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    out.error(`Error: ${e.message}\nRun 'tsmesh analyze --help' for usage.`);
    return EXIT_BAD_FLAGS;
  }
  if (f.help) {
    out.log(HELP);
    return 0;
  }
  if (f.list) {
    for (const a of [...ALL_ANALYZERS].sort((x, y) => (x.name < y.name ? -1 : 1))) out.log(`* ${a.name}:\n    ${a.description ?? ''}`);
    return 0;
  }
  const unknown = f.analyzers.filter((n) => !ALL_ANALYZERS.some((a) => a.name === n));
  if (unknown.length > 0) {
    out.error(`Error: unknown analyzer ${unknown.map((n) => JSON.stringify(n)).join(', ')}; 'tsmesh analyze -L' lists them`);
    return EXIT_BAD_FLAGS;
  }
  const live = f.live ?? f.files.length === 0;
  if (!live && f.files.length === 0) {
    out.error(`Error: nothing to analyze: pass files or directories, or drop --use-kube=false to analyze the running control plane`);
    return EXIT_BAD_FLAGS;
  }
  const selectedNamespace = f.allNamespaces ? '' : f.namespace ?? 'default';

  let meshConfig: Record<string, any> | undefined;
  if (f.meshConfigFile) {
    try {
      const v = parseYaml(readFileSync(f.meshConfigFile, 'utf8'));
      meshConfig = isObject(v) ? v : {};
    } catch (e) {
      out.error(`Error: cannot read --meshConfigFile ${f.meshConfigFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return 1;
    }
  }

  // Inputs: files (as named on the command line) and, with --live, the control plane's config underneath.
  const resources: Resource[] = [];
  const parseErrors: ParseError[] = [];
  const files: string[] = [];
  for (const p of f.files) {
    let list: string[];
    try {
      list = listFiles(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.error(`Error: stat ${p}: ${code === 'ENOENT' ? 'no such file or directory' : code ?? (e as Error).message} (pass an existing YAML file or directory)`);
      return 1;
    }
    for (const file of list) {
      files.push(file);
      const r = parseResources(readFileSync(file, 'utf8'), file, { namespace: selectedNamespace });
      resources.push(...r.resources);
      if (!f.ignoreUnknown) parseErrors.push(...r.errors);
    }
  }
  if (live) {
    try {
      const fromFiles = new Set(resources.map((r) => `${r.kind}/${r.namespace}/${r.name}`));
      for (const r of await liveResources(f.controlplane, selectedNamespace)) if (!fromFiles.has(`${r.kind}/${r.namespace}/${r.name}`)) resources.push(r);
    } catch (e) {
      out.error(`Error: ${(e as Error).message}`);
      return 1;
    }
  }

  if (parseErrors.length > 0) {
    const byFile = new Map<string, string[]>();
    for (const e of parseErrors) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e.message]);
    out.error(`Error(s) adding files: ${byFile.size} error${byFile.size === 1 ? '' : 's'} occurred:\n${[...byFile].map(([file, ms]) => `\t* errors parsing content "${file}": ${ms.length} error${ms.length === 1 ? '' : 's'} occurred:\n${ms.map((m) => `\t* ${m}`).join('\n')}`).join('\n')}\n`);
  }

  const messages = analyze(resources, {
    namespaces: f.allNamespaces ? undefined : [selectedNamespace],
    suppressions: f.suppressions,
    meshConfig,
    analyzers: f.analyzers,
    kubeInputs: !f.fileMode,
  });
  const shown = messages.filter((m) => atLeast(m.level, f.outputThreshold));
  const target = f.allNamespaces ? 'all namespaces' : `namespace: ${selectedNamespace}`;
  const unparsed = new Set(parseErrors.map((e) => e.file)).size;

  if (f.output === 'json') out.log(formatJson(shown));
  else if (f.output === 'yaml') out.log(formatYaml(shown).replace(/\n$/, ''));
  else for (const m of shown) out.log(colorize(logLine(m), m.level, f.color && isTTY));

  if (shown.length === 0) {
    if (unparsed > 0) out.error(`No validation issues found when analyzing ${target} (but ${unparsed} file${unparsed === 1 ? '' : 's'} could not be parsed).`);
    else if (files.length > 1 && !live) out.error(`\u2714 No validation issues found when analyzing:\n  - ${files.join('\n  - ')}`);
    else if (files.length === 1 && !live) out.error(`\u2714 No validation issues found when analyzing ${files[0]}.`);
    else out.error(`\u2714 No validation issues found when analyzing ${target}.`);
  }
  // As istioctl: only log output turns findings into an exit code; json/yaml are for machines.
  if (f.output !== 'log') return 0;
  if (messages.some((m) => atLeast(m.level, f.failureThreshold))) {
    out.error(`Error: Analyzers found issues when analyzing ${target}.\nSee https://istio.io/latest/docs/reference/config/analysis for more information about causes and resolutions.`);
    return EXIT_ANALYZER_FOUND_ISSUES;
  }
  if (unparsed > 0) {
    out.error('Error: Some files couldn\'t be parsed.');
    return EXIT_FILE_PARSE_ERROR;
  }
  return 0;
}

function colorize(line: string, level: Level, on: boolean): string {
  if (!on) return line;
  const code = level === 'Error' ? 31 : level === 'Warning' ? 33 : 0;
  return code ? line.replace(level, `\x1b[${code}m${level}\x1b[0m`) : line;
}

/** The running control plane's config (/debug/configz), as analysis resources without file positions. */
async function liveResources(flag: string | undefined, namespace: string): Promise<Resource[]> {
  const r = await controlPlaneGet<{ resources?: Record<string, unknown>[] }>(controlPlaneRef(flag), '/debug/configz', { otherwise: 'or analyze files alone with --use-kube=false' });
  if ('error' in r) throw new Error(`cannot read the running config: ${r.error}`);
  return resourcesFromConfigs(r.value.resources ?? [], { namespace });
}

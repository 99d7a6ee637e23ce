export interface NodeRuntime {
  flags: string[];
  env: Record<string, string>;
}
export declare function hasReadSlab(version?: string): boolean;
export declare const PROXY_NODE_FLAGS: string[];
export declare function maglevHoldsMemory(version?: string): boolean;
export declare const CONTROLPLANE_NODE_FLAGS: string[];
export declare function nodeOptionsFlags(flags: string[]): string[];
export declare const CONTROLPLANE_ENV: Record<string, string>;
export declare function runtimeFor(command: string): NodeRuntime;
export declare function missingRuntime(command: string, execArgv?: string[], env?: NodeJS.ProcessEnv): NodeRuntime;
export declare function execWithRuntime(command: string | undefined, script: string, args: string[]): void;

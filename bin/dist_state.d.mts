export declare const STAMP: string;
export declare function newestMtime(dir: string): number;
export declare function freshDistEntry(root: string): string | undefined;

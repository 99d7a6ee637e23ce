/**
 * JwtRequirement trees (Envoy's Verifier): provider_name, provider_and_audiences, requires_any,
 * requires_all, allow_missing, allow_missing_or_failed, and an unset requirement (allow all).
 * Children run one after the other, each extracting its tokens when it starts, which is what
 * Envoy's synchronous path does; requires_any stops at the first success and otherwise reports
 * the most telling failure (anything over "issuer not configured" over "missing"), then applies
 * its allow_missing / allow_missing_or_failed flags.
 */
import type { EnvoyJson } from '../../../../xds/types.ts';
import { Authenticator, type VerifyContext } from './authenticator.ts';
import { Extractor } from './extractor.ts';
import type { Provider } from './provider.ts';
import { Status } from './status.ts';

export interface Verifier {
  verify(ctx: VerifyContext): Promise<Status>;
}

export interface Providers {
  byName: ReadonlyMap<string, Provider>;
  /** The provider for an issuer ('' providers accept any issuer). */
  byIssuer(iss: string | undefined): Provider | undefined;
  /** One extractor over every provider's locations (allow_missing*, built once). */
  all: Extractor;
}

class LeafVerifier implements Verifier {
  constructor(
    private readonly extractor: Extractor,
    private readonly auth: Authenticator,
  ) {}
  verify(ctx: VerifyContext): Promise<Status> {
    this.extractor.sanitizeHeaders(ctx.headers);
    return this.auth.verify(this.extractor.extract(ctx.headers), ctx);
  }
}

class AnyVerifier implements Verifier {
  constructor(
    private readonly children: Verifier[],
    private readonly allowMissing: boolean,
    private readonly allowMissingOrFailed: boolean,
  ) {}
  async verify(ctx: VerifyContext): Promise<Status> {
    let final: Status = Status.JwtMissed;
    for (const c of this.children) {
      const s = await c.verify(ctx);
      if (s === Status.Ok) return s;
      if ((s !== Status.JwtMissed && s !== Status.JwtUnknownIssuer) || final === Status.JwtMissed) final = s;
    }
    if (this.allowMissingOrFailed) return Status.Ok;
    if (this.allowMissing && final === Status.JwtMissed) return Status.Ok;
    return final;
  }
}

class AllVerifier implements Verifier {
  constructor(private readonly children: Verifier[]) {}
  async verify(ctx: VerifyContext): Promise<Status> {
    for (const c of this.children) {
      const s = await c.verify(ctx);
      if (s !== Status.Ok) return s;
    }
    return Status.Ok;
  }
}

const ALLOW_ALL: Verifier = { verify: async () => Status.Ok };

function providerLeaf(ps: Providers, name: string, audiences: readonly string[] | undefined, path: string): Verifier {
  const p = ps.byName.get(name);
  if (!p) throw new Error(`${path}: required provider ['${name}'] is not configured`);
  return new LeafVerifier(new Extractor([p.config]), new Authenticator({ provider: p, audiences, allowFailed: false, allowMissing: false }, ps.byIssuer));
}

/** Compiles one JwtRequirement (throws naming the field for a bad one). */
export function compileRequirement(r: EnvoyJson | undefined, ps: Providers, path: string): Verifier {
  if (!r || Object.keys(r).length === 0) return ALLOW_ALL;
  if (r.provider_name !== undefined) return providerLeaf(ps, String(r.provider_name), undefined, `${path}.provider_name`);
  if (r.provider_and_audiences !== undefined) {
    const pa = r.provider_and_audiences;
    const auds = ((pa.audiences ?? []) as unknown[]).map(String);
    return providerLeaf(ps, String(pa.provider_name ?? ''), auds.length ? auds : undefined, `${path}.provider_and_audiences`);
  }
  if (r.allow_missing !== undefined) return new LeafVerifier(ps.all, new Authenticator({ allowFailed: false, allowMissing: true }, ps.byIssuer));
  if (r.allow_missing_or_failed !== undefined) return new LeafVerifier(ps.all, new Authenticator({ allowFailed: true, allowMissing: true }, ps.byIssuer));
  if (r.requires_any !== undefined) {
    const list = (r.requires_any.requirements ?? []) as EnvoyJson[];
    if (list.length < 2) throw new Error(`${path}.requires_any.requirements: at least 2 are required`);
    let allowMissing = false;
    let allowMissingOrFailed = false;
    const children: Verifier[] = [];
    list.forEach((c, i) => {
      if (c?.allow_missing_or_failed !== undefined) allowMissingOrFailed = true;
      else if (c?.allow_missing !== undefined) allowMissing = true;
      else children.push(compileRequirement(c, ps, `${path}.requires_any.requirements[${i}]`));
    });
    if (children.length === 0) children.push(compileRequirement(allowMissingOrFailed ? { allow_missing_or_failed: {} } : { allow_missing: {} }, ps, path));
    return new AnyVerifier(children, allowMissing, allowMissingOrFailed);
  }
  if (r.requires_all !== undefined) {
    const list = (r.requires_all.requirements ?? []) as EnvoyJson[];
    if (list.length < 2) throw new Error(`${path}.requires_all.requirements: at least 2 are required`);
    return new AllVerifier(list.map((c, i) => compileRequirement(c, ps, `${path}.requires_all.requirements[${i}]`)));
  }
  throw new Error(`${path}: unknown requirement type ${Object.keys(r).join(', ')}`);
}

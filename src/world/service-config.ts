// The JSON contract between world.ts (which writes a config per namespace)
// and services.ts (which runs inside that namespace). Adding a service kind
// means adding a member here and a starter in services.ts.

export interface DnsRecordSet {
  A?: string[];
  AAAA?: string[];
  TXT?: string[];
}

export interface DnsServiceConfig {
  kind: 'dns';
  /** Who this resolver is ("isp", "vpn"): logged with every query and served as whoami TXT. */
  identity: string;
  listen: string[];
  port?: number;
  /** Lower-case names without trailing dot. */
  records: Record<string, DnsRecordSet>;
  /** Name answering TXT <identity> and A <the address the query arrived at>. */
  whoami?: string;
  ttl?: number;
  /** JSON-lines query log. */
  log: string;
}

export interface HttpListen {
  host: string;
  port: number;
  tls?: boolean;
}

export interface TlsFiles {
  cert: string;
  key: string;
}

/** Answers the caller's address: GET / (text), /json, /bytes/<n> (for throughput). */
export interface EchoServiceConfig {
  kind: 'echo';
  name?: string;
  listen: HttpListen[];
  tls?: TlsFiles;
  log: string;
}

/**
 * A plug-in HTTP(S) service: `module` is an absolute path to an ES module whose
 * default export is `(req, res, ctx) => void` (see HttpModuleContext in
 * http-services.ts). Used by later tests for mocks such as an LLM API.
 */
export interface HttpModuleServiceConfig {
  kind: 'http-module';
  name?: string;
  module: string;
  listen: HttpListen[];
  tls?: TlsFiles;
  log: string;
  /** Passed through to the handler as ctx.options. */
  options?: unknown;
}

export type ServiceConfig = DnsServiceConfig | EchoServiceConfig | HttpModuleServiceConfig;

export interface ServicesFile {
  services: ServiceConfig[];
}

import type { Logger } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { checkClientAllowed, clientCertIdentity, createServerTls, hstsHeader } from '../tls/index.js';
import type { ServerTlsProvider } from './server.js';

/**
 * The host a listen address ("HOST:PORT", "[v6]:PORT") adds to the generated dev certificate. One function for the
 * main listener and the metrics listener: they must ask for the same hosts to share <state_dir>/tls/server.crt.
 */
export function devCertificateHosts(listen: string): string[] {
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host ? [host] : [];
}

/** Adapts the TLS capability to what the listener needs; generates the dev CA in development when no cert is configured. */
export async function createServerTlsProvider(
  cfg: GatehouseConfig,
  logger: Logger,
  opts: { ticketKeysFromOutside?: boolean } = {},
): Promise<{ provider: ServerTlsProvider; caCertPath: string | undefined }> {
  const tlsCfg = cfg.server.tls;
  const serverTls = await createServerTls(tlsCfg, { stateDir: cfg.state_dir, logger, hosts: devCertificateHosts(cfg.server.listen), profile: cfg.profile, ...(opts.ticketKeysFromOutside ? { ticketKeysFromOutside: true } : {}) });
  const mtls = tlsCfg.client_auth !== 'none';
  const provider: ServerTlsProvider = {
    options: serverTls.options as Record<string, unknown>,
    attach: (server) => serverTls.attach(server as unknown as Parameters<typeof serverTls.attach>[0]),
    close: () => serverTls.close(),
    setTicketKeys: (keys) => serverTls.setTicketKeys(keys),
    clientCert: clientCertIdentity,
    hsts: hstsHeader(tlsCfg),
    notAfter: () => Date.parse(serverTls.describe().not_after),
    ...(mtls ? { checkClient: (identity) => checkClientAllowed(identity, tlsCfg) } : {}),
  };
  return { provider, caCertPath: serverTls.devCa?.caCertPath };
}

/** The outbound secure client's TLS (seed 000 TLS best practices; docs/client.md). */
import { clientProductionProblems, isRefusedTokenUrl } from '../../client/index.js';
import type { CheckDefinition } from '../types.js';
import { fail, judged } from '../outcome.js';

export const clientChecks: CheckDefinition[] = [
  {
    id: 'client.tls',
    title: 'The secure client verifies servers over TLS 1.2 or newer',
    source: 'seed 000 TLS best practices §2 and §5 ("Never set insecure_skip_verify to true in production")',
    fix: 'Remove client.security.tls.insecure_skip_verify (give ca_file instead), set min_version: tls12, and use an https client.url.',
    inspect({ cfg, severe }) {
      const auth = cfg.client.security.auth;
      // Refused by the client in every profile: the client secret would travel in clear.
      const tokenUrl = auth.type === 'oauth2' && isRefusedTokenUrl(auth.token_url) && fail('client.security.auth.token_url is plain http off loopback: the client secret would cross the network unencrypted, and the client refuses it');
      return judged([...clientProductionProblems(cfg.client).map((detail) => ({ status: severe, detail })), tokenUrl], 'client.security.tls verifies the server with TLS 1.2 or newer');
    },
  },
];

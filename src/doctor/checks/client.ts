/** The outbound secure client's TLS (seed 000 TLS best practices; docs/client.md). */
import { clientProductionProblems } from '../../client/index.js';
import type { CheckDefinition } from '../types.js';
import { judged } from '../outcome.js';

export const clientChecks: CheckDefinition[] = [
  {
    id: 'client.tls',
    title: 'The secure client verifies servers over TLS 1.2 or newer',
    source: 'seed 000 TLS best practices §2 and §5 ("Never set insecure_skip_verify to true in production")',
    fix: 'Remove client.security.tls.insecure_skip_verify (give ca_file instead), set min_version: tls12, and use an https client.url.',
    inspect({ cfg, severe }) {
      return judged(clientProductionProblems(cfg.client).map((detail) => ({ status: severe, detail })), 'client.security.tls verifies the server with TLS 1.2 or newer');
    },
  },
];

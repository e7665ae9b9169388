import { createServer } from 'node:net';

/** A port free a moment ago on 127.0.0.1 (the process under test binds it; nothing else on loopback should take it meanwhile). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

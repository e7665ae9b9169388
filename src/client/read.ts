import type { Dispatcher } from 'undici';

/** A response body read whole, up to `max` bytes; past that the stream is destroyed and `tooLarge()` thrown. */
export async function readBounded(body: Dispatcher.ResponseData['body'], max: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += (c as Buffer).length;
    if (size > max) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

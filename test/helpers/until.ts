/**
 * Polls `fn` until it returns a truthy value (or a promise of one) and returns that value; throws
 * `timed out waiting for <what>` after `ms`. Test deadlines are generous on purpose: they bound a hang, they do not
 * measure speed (a slow CI machine must not fail a test). `what` may be a function, read when the wait fails, to
 * report the state at that moment.
 */
export async function until<T>(
  what: string | (() => string),
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms = 15_000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

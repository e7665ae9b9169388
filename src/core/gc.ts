/**
 * Young-generation collection on demand, for long byte-moving loops (file streams) whose memory is mostly short-lived
 * Buffers. Each spent Buffer's backing store is external memory that V8 frees only when a collection finds its wrapper
 * dead, and V8 lets about 64 MiB of such garbage pile up before it collects on its own. A minor collection every few
 * MiB frees them at a cost of well under a millisecond each.
 *
 * The collector is V8's `gc`, reached the way test runners reach it: the --expose-gc flag is set at run time and the
 * function is taken from a fresh vm context (the main context's globals are not changed). Returns false when the
 * runtime offers no collector (then nothing happens and memory is bounded by V8's own heuristics only).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collector = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let collector: Collector | null | undefined;

function findCollector(): Collector | null {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as Collector;
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    return typeof fn === 'function' ? (fn as Collector) : null;
  } catch {
    return null;
  }
}

/** Runs a minor (scavenge) collection now. */
export function collectYoungGarbage(): boolean {
  if (collector === undefined) collector = findCollector();
  if (collector === null) return false;
  collector({ type: 'minor' });
  return true;
}

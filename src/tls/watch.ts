/**
 * Notices when certificate files change. Editors, certbot and Kubernetes secret mounts replace files by rename
 * (a new inode, sometimes a swapped `..data` symlink), so the directories are watched rather than the files, any
 * event only schedules a debounced stat comparison, and a periodic stat covers file systems where fs.watch is silent
 * (network mounts, some containers).
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

export interface FileWatchOptions {
  /** Quiet period after the last event before comparing (several files are usually replaced one after another). */
  debounceMs?: number;
  /** Periodic stat comparison; 0 disables it. */
  pollIntervalMs?: number;
}

/** What identifies a file's content cheaply: a rename changes the inode, an in-place write the size or times. */
function signature(paths: readonly string[]): string {
  return paths
    .map((p) => {
      try {
        const s = statSync(p); // follows symlinks, so a swapped ..data link shows as a new inode
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

export class FileWatcher {
  readonly #paths: readonly string[];
  readonly #onChange: () => void;
  readonly #debounceMs: number;
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #last: string;
  #closed = false;

  constructor(paths: readonly string[], onChange: () => void, opts: FileWatchOptions = {}) {
    this.#paths = [...paths];
    this.#onChange = onChange;
    this.#debounceMs = opts.debounceMs ?? 250;
    this.#last = signature(this.#paths);
    for (const dir of new Set(this.#paths.map((p) => dirname(p)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.#schedule());
        w.on('error', () => undefined); // a vanished directory: the poll still runs
        this.#watchers.push(w);
      } catch {
        // fs.watch unsupported here: rely on the poll
      }
    }
    const poll = opts.pollIntervalMs ?? 10_000;
    if (poll > 0) {
      this.#poll = setInterval(() => this.check(), poll);
      this.#poll.unref();
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.check();
    }, this.#debounceMs);
    this.#timer.unref();
  }

  /** Compares the files' signatures now and calls onChange when they differ from the last seen. */
  check(): void {
    if (this.#closed) return;
    const now = signature(this.#paths);
    if (now === this.#last) return;
    this.#last = now;
    this.#onChange();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#poll) clearInterval(this.#poll);
    for (const w of this.#watchers) w.close();
  }
}

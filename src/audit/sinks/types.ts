/** Where durable records go besides the file (docs/audit.md § Sinks). */
export interface AuditSink {
  readonly name: string;
  /**
   * Receives records in chain order once they are durable in the file, as their JSON lines (no newline).
   * Must not block or throw: each sink queues, batches and retries on its own.
   */
  deliver(lines: readonly string[]): void;
  /** Optional: also receives each durable record's payload object (the alert engine). Must not block or throw. */
  observe?(payload: Readonly<Record<string, unknown>>): void;
  /** Flushes what it can within its own timeout and releases sockets and timers. */
  close(): Promise<void>;
  health(): { ok: boolean; reason?: string };
}

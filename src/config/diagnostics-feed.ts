// A config source's current diagnostics and who wants to hear when they change. File and
// memory sources both recompute their list after every change (their own problems plus the
// conflicts ownership reports); listeners are told only when the sorted list differs, so a
// rescan that finds the same problems stays quiet.
import { sortDiagnostics, type Diagnostic } from "../api/index.ts";

export type DiagnosticsListener = (diagnostics: Diagnostic[]) => void;

export class DiagnosticsFeed {
  readonly #listeners = new Set<DiagnosticsListener>();
  #current: Diagnostic[] = [];

  /** A copy of the current list, sorted. */
  current(): Diagnostic[] {
    return [...this.#current];
  }

  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: DiagnosticsListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Replaces the list. A listener that throws is logged and does not stop the others. */
  publish(diagnostics: Diagnostic[]): void {
    const next = sortDiagnostics(diagnostics);
    if (JSON.stringify(next) === JSON.stringify(this.#current)) return;
    this.#current = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(this.current());
      } catch (err) {
        console.error(`diagnostics listener failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

// Back-pressure for pushes. gRPC streams buffer whatever is written to them, so a push
// to 2,000 proxies written at once would hold 2,000 serialized copies of the big
// responses in memory, and the last proxy would wait behind all of them anyway. Every
// response goes through one FIFO queue instead (so each stream's order is kept) and at
// most `budgetBytes` of responses are being written at a time; a queued response holds
// only references to the shared encoded resources, and is serialized when its turn
// comes. Pushes wait for the backlog to drain below a mark before building more, so
// proxies get their config while later ones are still being built.
import type { OutgoingResponse } from "./connection.ts";

/** A stream to write to: `done` is called once the response is handed to the transport (or the stream is gone). */
export interface ResponseSink {
  write(response: OutgoingResponse, done: () => void): void;
  readonly closed: boolean;
}

interface Item {
  sink: ResponseSink;
  response: OutgoingResponse;
  size: number;
}

export class SendQueue {
  #items: Item[] = [];
  #head = 0;
  #inflightBytes = 0;
  #inflight = 0;
  #waiters: (() => void)[] = [];

  constructor(
    readonly budgetBytes = 32 * 1024 * 1024,
    /** Backlog (queued responses) above which producers wait. */
    readonly highWater = 512,
  ) {}

  send(sink: ResponseSink, response: OutgoingResponse): void {
    let size = 64;
    for (const r of response.resources) size += r.value.length + r.type_url.length + 8;
    this.#items.push({ sink, response, size });
    this.#pump();
  }

  get backlog(): number {
    return this.#items.length - this.#head;
  }

  /** Resolves when the backlog is below the high-water mark. */
  async drained(): Promise<void> {
    while (this.backlog >= this.highWater) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  #pumping = false;

  #pump(): void {
    // A write that completes synchronously calls back into here: let the running loop go on.
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      this.#drain();
    } finally {
      this.#pumping = false;
    }
    if (this.backlog < this.highWater && this.#waiters.length) for (const w of this.#waiters.splice(0)) w();
  }

  #drain(): void {
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      // One response at a time always goes, however big (or nothing would ever move).
      if (this.#inflight > 0 && this.#inflightBytes + item.size > this.budgetBytes) break;
      this.#head++;
      if (item.sink.closed) continue;
      this.#inflight++;
      this.#inflightBytes += item.size;
      let released = false;
      const release = (): boolean => {
        if (released) return false;
        released = true;
        this.#inflight--;
        this.#inflightBytes -= item.size;
        return true;
      };
      try {
        item.sink.write(item.response, () => {
          if (release()) this.#pump();
        });
      } catch {
        release();
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

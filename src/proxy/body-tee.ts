// Keeps a copy of a streaming request body so a retry (or a mirror) can replay it.
// WHY: the first attempt streams without waiting for the whole body (gRPC streaming
// needs that), but Envoy can still retry as long as the body fitted in its buffer. Past
// the limit the copy is dropped and the request is no longer retriable, as in Envoy.
import { PassThrough, Readable } from "node:stream";

export class BodyTee {
  private chunks: Buffer[] | undefined = [];
  private size = 0;
  private ended = false;
  private readonly endWaiters: Array<() => void> = [];

  constructor(
    private readonly source: Readable,
    private readonly limit: number,
  ) {
    source.on("data", (chunk: Buffer) => {
      if (this.chunks) {
        this.size += chunk.length;
        if (this.size > this.limit) this.chunks = undefined;
        else this.chunks.push(chunk);
      }
    });
    source.on("end", () => {
      this.ended = true;
      for (const w of this.endWaiters.splice(0)) w();
    });
    source.pause();
  }

  /** True while a full copy can still be replayed. */
  get replayable(): boolean {
    return this.chunks !== undefined;
  }

  /** The first attempt's body: the live stream (data also lands in the copy). */
  first(): Readable {
    const out = new PassThrough();
    this.source.pipe(out);
    return out;
  }

  /** A replay for a retry or mirror; waits for the source to end first. */
  async replay(): Promise<Readable | undefined> {
    if (!this.ended) await new Promise<void>((resolve) => this.endWaiters.push(resolve));
    if (!this.chunks) return undefined;
    return Readable.from(this.chunks);
  }
}

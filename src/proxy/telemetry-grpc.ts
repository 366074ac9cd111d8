// Counts gRPC messages in a byte stream (length-prefixed frames: 1 flag byte, 4 length
// bytes big-endian, payload), across arbitrary chunk boundaries, without copying: the
// numbers behind istio_request_messages_total / istio_response_messages_total.
export class GrpcFrameCounter {
  messages = 0;
  /** Header bytes of the current frame read so far (0..4); 5 means "in the payload". */
  private header = 0;
  private length = 0;
  private remaining = 0;

  reset(): void {
    this.messages = 0;
    this.header = 0;
    this.length = 0;
    this.remaining = 0;
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      const byte = chunk[i++];
      if (this.header > 0) this.length = this.length * 256 + byte;
      this.header++;
      if (this.header === 5) {
        this.messages++;
        this.remaining = this.length;
        this.header = 0;
        this.length = 0;
      }
    }
  }
}

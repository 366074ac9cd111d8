// Where access log lines go: stdout or a file (`/dev/stdout` and `/dev/stderr`
// mean the process's own streams, as in Istio's accessLogFile). Writes are buffered
// and flushed on the next turn of the event loop, or, with `flushIntervalMs`, when 64 KiB
// are pending or that long after the first pending line (Envoy's file flush: min size
// and interval), so the request path only appends a string to an array. WHY an
// interval exists: at 1,000 rps a flush per turn is a write per request, each a
// thread-pool round trip; the proxy does not turn it on yet (docs/performance.md,
// "Proxy hot path", says what was measured). The buffer is bounded: while the
// destination is slow and the backlog exceeds maxBufferedBytes, new lines are dropped
// and counted, because an access log must never hold up or exhaust the proxy it describes.

import { closeSync, openSync, writeSync } from "node:fs";
import { Writable } from "node:stream";

export interface AccessLogWriterOptions {
  /** Upper bound on bytes waiting to be written (pending + in the stream). Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Longest a line waits before it is handed to the destination; 0 (default): the next event-loop turn. */
  flushIntervalMs?: number;
}

/** Pending bytes that trigger a flush at once (Envoy's file_flush_min_size default). */
const flushAtBytes = 64 * 1024;

export class AccessLogWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private closed = false;
  /** Lines dropped because the destination could not keep up. */
  dropped = 0;
  /** Lines handed to the destination. */
  written = 0;
  private readonly maxBufferedBytes: number;
  private readonly flushIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: Writable,
    private readonly ownsStream: boolean,
    options: AccessLogWriterOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 0;
    // A broken destination (EPIPE on stdout, a full disk) must not crash the proxy.
    stream.on("error", () => {
      this.closed = true;
    });
  }

  /** Appends one formatted line (it should end with its own newline). Never blocks. */
  write(line: string): void {
    if (this.closed) return;
    if (this.pendingBytes + this.stream.writableLength + line.length > this.maxBufferedBytes) {
      this.dropped++;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.scheduled) {
      if (this.timer && this.pendingBytes >= flushAtBytes) this.flush();
    } else {
      this.scheduled = true;
      if (this.flushIntervalMs <= 0) setImmediate(() => this.flush());
      else {
        // Unref'd: a pending flush must not keep an otherwise finished process alive (close() flushes).
        this.timer = setTimeout(() => this.flush(), this.flushIntervalMs);
        this.timer.unref();
      }
    }
  }

  /** Hands everything pending to the stream in one write. */
  flush(): void {
    this.scheduled = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.closed) return;
    const chunk = this.pending.length === 1 ? this.pending[0] : this.pending.join("");
    this.written += this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.stream.write(chunk);
  }

  /** Flushes and, for files, closes; resolves when the data is handed to the OS. */
  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    if (!this.ownsStream) {
      if (this.stream.writableLength === 0) return;
      await new Promise<void>((resolve) => this.stream.once("drain", () => resolve()));
      return;
    }
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
  }
}

/** A writer for meshConfig.accessLogFile: `/dev/stdout`, `/dev/stderr`, or a file appended to. */
export function openAccessLog(path: string, options: AccessLogWriterOptions = {}): AccessLogWriter {
  if (path === "/dev/stdout" || path === "") return new AccessLogWriter(process.stdout, false, options);
  if (path === "/dev/stderr") return new AccessLogWriter(process.stderr, false, options);
  return new AccessLogWriter(appendOnlyFile(path), true, options);
}

/**
 * A file opened for append whose writes are synchronous, as Node's own stdout is when it
 * is a file. WHY not fs.createWriteStream: each of its writes is a round trip through
 * libuv's thread pool, and the proxy flushes once per event-loop turn, which at 1,000 rps
 * is about once per request; one write(2) of a few hundred bytes into the page cache is
 * cheaper (measured: 3.7–5.0 against 5.4–8.3 µs of process CPU per flush). An opening error (a
 * missing directory, no permission) surfaces as the stream's 'error', as
 * createWriteStream's did: the writer closes itself and the proxy goes on.
 */
function appendOnlyFile(path: string): Writable {
  let fd: number;
  try {
    fd = openSync(path, "a");
  } catch (err) {
    const broken = new Writable({ write: (_c, _e, done) => done() });
    process.nextTick(() => broken.destroy(err as Error));
    return broken;
  }
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      try {
        const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    final(done) {
      try {
        closeSync(fd);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

// Open-loop HTTP/1.1 load generator (its own process; the runner pins it to a core).
// Requests are scheduled at a fixed rate, round-robin over N keep-alive connections, and
// each latency is measured from the request's *scheduled* send time, not from when it was
// written: when a connection is still busy, the queued request's wait counts, so
// coordinated omission cannot hide queueing (wrk2's correction). No pipelining, as a
// browser or an app's HTTP client would do.
//
// Usage: node --import tsx bench/lib/loadgen.ts '{"port":8080,"rate":1000,"connections":4,
//   "warmupS":3,"durationS":20,"requestLine":"GET /1k HTTP/1.1","host":"127.0.0.1"}'
// Prints one JSON line: { latenciesMs summary, sent, completed, errors, wallS }.
import net from "node:net";
import { summarize } from "./stats.ts";

interface Options {
  port: number;
  rate: number;
  connections: number;
  warmupS: number;
  durationS: number;
  requestLine: string;
  host: string;
}

const opts = JSON.parse(process.argv[2] ?? "{}") as Options;
const request = Buffer.from(`${opts.requestLine}\r\nHost: ${opts.host}\r\nUser-Agent: skiff-bench\r\n\r\n`);
const intervalNs = 1e9 / opts.rate;
const HEADER_END = Buffer.from("\r\n\r\n");

/** Parses back-to-back HTTP/1.1 responses on one connection (Content-Length or chunked). */
class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onResponse: (status: number) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (let guard = 0; guard < 1000; guard++) {
      const consumed = this.tryOne();
      if (consumed === 0) return;
      this.buf = this.buf.subarray(consumed);
    }
  }

  /** Bytes of one complete response at the start of the buffer, or 0 when incomplete. */
  private tryOne(): number {
    const end = this.buf.indexOf(HEADER_END);
    if (end < 0) return 0;
    const head = this.buf.toString("latin1", 0, end);
    const status = Number(head.slice(9, 12));
    const bodyStart = end + 4;
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (cl) {
      const total = bodyStart + Number(cl[1]);
      if (this.buf.length < total) return 0;
      this.onResponse(status);
      return total;
    }
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      let pos = bodyStart;
      for (;;) {
        const lineEnd = this.buf.indexOf("\r\n", pos);
        if (lineEnd < 0) return 0;
        const size = parseInt(this.buf.toString("latin1", pos, lineEnd), 16);
        if (size === 0) {
          // Last chunk; no trailers expected: the final CRLF follows.
          if (this.buf.length < lineEnd + 4) return 0;
          this.onResponse(status);
          return lineEnd + 4;
        }
        pos = lineEnd + 2 + size + 2;
        if (this.buf.length < pos) return 0;
      }
    }
    // No length: a body-less response (204/304).
    this.onResponse(status);
    return bodyStart;
  }
}

interface Conn {
  socket: net.Socket;
  /** Scheduled send times (ns) of requests written or waiting, oldest first. */
  queue: bigint[];
  inFlight: boolean;
}

const latenciesMs: number[] = [];
let sent = 0;
let completed = 0;
let errors = 0;
let non2xx = 0;
let measuring = false;
let measureStart = 0n;

function connect(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: opts.port, host: "127.0.0.1", noDelay: true });
    const conn: Conn = { socket, queue: [], inFlight: false };
    const reader = new ResponseReader((status) => {
      const scheduled = conn.queue.shift()!;
      const now = process.hrtime.bigint();
      completed++;
      if (status < 200 || status >= 300) non2xx++;
      if (measuring && scheduled >= measureStart) latenciesMs.push(Number(now - scheduled) / 1e6);
      conn.inFlight = false;
      if (conn.queue.length) send(conn);
    });
    socket.on("data", (d: Buffer) => reader.push(d));
    socket.once("connect", () => resolve(conn));
    socket.on("error", (err) => {
      errors++;
      reject(err);
    });
  });
}

function send(conn: Conn): void {
  conn.inFlight = true;
  conn.socket.write(request);
}

async function main(): Promise<void> {
  const conns: Conn[] = [];
  for (let i = 0; i < opts.connections; i++) conns.push(await connect());
  const start = process.hrtime.bigint();
  const warmupEnd = start + BigInt(Math.round(opts.warmupS * 1e9));
  const end = warmupEnd + BigInt(Math.round(opts.durationS * 1e9));
  measureStart = warmupEnd;
  let i = 0;
  let next = start;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = process.hrtime.bigint();
      if (!measuring && now >= warmupEnd) {
        measuring = true;
        process.stdout.write(JSON.stringify({ event: "measuring" }) + "\n");
      }
      while (next <= now && next < end) {
        const conn = conns[i % conns.length];
        conn.queue.push(next);
        sent++;
        if (!conn.inFlight) send(conn);
        i++;
        next = start + BigInt(Math.round(i * intervalNs));
      }
      if (next >= end) return resolve();
      // Timers are ms-grained: sleep until the next slot (0 = next loop turn when late).
      setTimeout(tick, Math.max(0, Number(next - process.hrtime.bigint()) / 1e6 - 0.2));
    };
    tick();
  });
  const measuredWall = Number(process.hrtime.bigint() - warmupEnd) / 1e9;
  // Drain what is still queued, bounded: anything not back in 10 s counts as an error.
  const drainDeadline = Date.now() + 10_000;
  while (conns.some((c) => c.queue.length) && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 10));
  const lost = conns.reduce((n, c) => n + c.queue.length, 0);
  process.stdout.write(JSON.stringify({ event: "done", sent, completed, errors: errors + lost, non2xx, wallS: measuredWall, latency: summarize(latenciesMs) }) + "\n");
  for (const c of conns) c.socket.destroy();
}

main().catch((err: Error) => {
  process.stdout.write(JSON.stringify({ event: "error", message: err.message }) + "\n");
  process.exitCode = 1;
});

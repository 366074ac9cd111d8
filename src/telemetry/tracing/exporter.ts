// Batched span export over HTTP. export() only pushes onto a bounded queue (a full
// queue drops the span and counts it): the request path never waits for a
// collector. A timer, or a full batch, sends at most one POST at a time; a failed
// POST drops that batch (counted) rather than retrying into a growing backlog.

import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Span } from "./span.ts";
import { toOtlpJson, toZipkinJson } from "./wire.ts";

export interface ExporterOptions {
  /** Full URL of the collector endpoint, e.g. http://127.0.0.1:9411/api/v2/spans. */
  endpoint: string;
  /** Spans waiting beyond this are dropped. Default 2048. */
  maxQueueSize?: number;
  /** Spans per POST. Default 512. */
  maxBatchSize?: number;
  /** How long a span may wait before its batch is sent. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Per-POST timeout. Default 5000 ms. */
  timeoutMs?: number;
}

export interface ExporterStats {
  exported: number;
  dropped: number;
  failedBatches: number;
  lastError?: string;
}

type Encoder = (spans: readonly Span[]) => string;

export class SpanExporter {
  private queue: Span[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  readonly stats: ExporterStats = { exported: 0, dropped: 0, failedBatches: 0 };
  private readonly url: URL;
  private readonly maxQueueSize: number;
  private readonly maxBatchSize: number;
  private readonly flushIntervalMs: number;
  private readonly timeoutMs: number;

  constructor(
    options: ExporterOptions,
    private readonly encode: Encoder,
  ) {
    try {
      this.url = new URL(options.endpoint);
    } catch {
      throw new Error(`tracing exporter: endpoint "${options.endpoint}" is not a URL; write e.g. http://zipkin.istio-system:9411/api/v2/spans`);
    }
    if (this.url.protocol !== "http:" && this.url.protocol !== "https:") {
      throw new Error(`tracing exporter: endpoint "${options.endpoint}" must be http:// or https://`);
    }
    this.maxQueueSize = options.maxQueueSize ?? 2048;
    this.maxBatchSize = options.maxBatchSize ?? 512;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Queues a finished span; false if it was dropped (queue full or exporter closed). */
  export(span: Span): boolean {
    if (this.closed || this.queue.length >= this.maxQueueSize) {
      this.stats.dropped++;
      return false;
    }
    this.queue.push(span);
    if (this.queue.length >= this.maxBatchSize) this.kick();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.kick(), this.flushIntervalMs);
      this.timer.unref();
    }
    return true;
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatchSize);
    this.inFlight = this.post(batch).finally(() => {
      this.inFlight = undefined;
      if (this.queue.length >= this.maxBatchSize || (this.closed && this.queue.length > 0)) this.kick();
      else if (this.queue.length > 0 && !this.timer) {
        this.timer = setTimeout(() => this.kick(), this.flushIntervalMs);
        this.timer.unref();
      }
    });
  }

  private post(batch: Span[]): Promise<void> {
    const body = this.encode(batch);
    const send = this.url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<void>((resolve) => {
      const fail = (msg: string) => {
        this.stats.failedBatches++;
        this.stats.dropped += batch.length;
        this.stats.lastError = msg;
        resolve();
      };
      const req = send(
        this.url,
        { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }, timeout: this.timeoutMs },
        (res) => {
          res.resume();
          res.on("end", () => {
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) {
              this.stats.exported += batch.length;
              resolve();
            } else fail(`collector answered ${code}`);
          });
          res.on("error", (err) => fail(err.message));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", (err) => fail(err.message));
      req.end(body);
    });
  }

  /** Sends everything queued now; resolves when the queue is empty and nothing is in flight. */
  async flush(): Promise<void> {
    // Bounded: each round sends one batch or waits for the one in flight.
    for (let rounds = 0; rounds < 10_000 && (this.queue.length > 0 || this.inFlight); rounds++) {
      this.kick();
      if (this.inFlight) await this.inFlight;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Zipkin v2 JSON: POST {endpoint} (Zipkin's is /api/v2/spans on port 9411). */
export function zipkinExporter(options: ExporterOptions): SpanExporter {
  return new SpanExporter(options, toZipkinJson);
}

/** OTLP/HTTP JSON: POST {endpoint} (a collector's is /v1/traces on port 4318). */
export function otlpExporter(options: ExporterOptions): SpanExporter {
  return new SpanExporter(options, (spans) => toOtlpJson(spans));
}

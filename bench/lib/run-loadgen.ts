// Runs bench/lib/loadgen.ts as its own process (pinned to a core) and reads its JSON lines:
// the one way the benches drive load, so that the measured window (between "measuring" and
// "done") is the same for every bench that reports CPU per request.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { start } from "./procs.ts";

const loadgenScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "loadgen.ts");

/** What loadgen.ts prints on "done". */
export interface LoadgenOut {
  sent: number;
  completed: number;
  errors: number;
  non2xx: number;
  wallS: number;
  latency: { count: number; p50: number; p90: number; p99: number; max: number; mean: number };
}

export interface LoadTarget {
  /** Named in errors. */
  name: string;
  port: number;
  requestLine: string;
  host: string;
}

export interface LoadOptions {
  rate: number;
  connections: number;
  warmupS: number;
  durationS: number;
}

/**
 * Open-loop load on one target. onMeasuring/onDone fire when the measured window opens and
 * closes, so the caller can read the proxy's CPU time exactly around it.
 */
export function runLoadgen(t: LoadTarget, o: LoadOptions, cpu: string, onMeasuring?: () => void, onDone?: () => void): Promise<LoadgenOut> {
  const cfg = JSON.stringify({ port: t.port, requestLine: t.requestLine, host: t.host, ...o });
  const gen = start(`loadgen ${t.name}`, cpu, process.execPath, ["--import", "tsx", loadgenScript, cfg]);
  return new Promise((resolve, reject) => {
    let buf = "";
    gen.child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { event: string; message?: string } & Partial<LoadgenOut>;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.event === "measuring") onMeasuring?.();
        else if (msg.event === "done") {
          onDone?.();
          resolve(msg as LoadgenOut);
        } else if (msg.event === "error") reject(new Error(`loadgen on ${t.name}: ${msg.message}`));
      }
    });
    gen.child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`loadgen on ${t.name} exited ${code}: ${gen.output().slice(-1500)}`));
    });
  });
}

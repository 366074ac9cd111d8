// The demo IdP (samples/sentiment/idp/server.ts) as a real process on an ephemeral loopback
// port, for the tests that drive its login flow. Its signing key lives in a temp dir that
// stop() removes.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

export interface RunningIdp {
  /** Where the test reaches it: http://127.0.0.1:<port> (the issuer may name another host). */
  origin: string;
  stop(): void;
}

export async function startIdp(o: { issuer: string; redirectUris: string }): Promise<RunningIdp> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "skiff-idp-test-"));
  const idp = spawn(process.execPath, ["--import", "tsx", "samples/sentiment/idp/server.ts"], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ISSUER: o.issuer, REDIRECT_URIS: o.redirectUris, KEY_FILE: path.join(tmp, "key.json") },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const stop = (): void => {
    idp.kill("SIGTERM");
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  const lines = readline.createInterface({ input: idp.stdout! });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("IdP did not start in 20 s")), 20_000);
      idp.once("exit", (code) => reject(new Error(`IdP exited with ${code}`)));
      lines.on("line", (line) => {
        if (!line.startsWith("{")) return; // oidc-provider prints its own notices as text
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === "listening") {
          clearTimeout(timer);
          resolve(entry.port!);
        }
      });
    });
    return { origin: `http://127.0.0.1:${port}`, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

// The demo identity provider: a real OpenID Connect provider (the certified `oidc-provider`
// package) in place of the tutorial's Keycloak. Reached through the ingress gateway at
// ISSUER (default http://localhost:8080/idp); see docs/sentiment-demo.md, "Security walk-through".
import os from "node:os";
import path from "node:path";
import type http from "node:http";
import { runApp, log } from "../lib/index.ts";
import { checkCredentials } from "./accounts.ts";
import { loginPage } from "./login-page.ts";
import { createProvider, mountPathOf, CLIENT_ID } from "./provider.ts";
import { loadOrCreateSigningKey } from "./signing-key.ts";

const APP = "idp";

function settingsFromEnv(env: NodeJS.ProcessEnv): { issuer: string; redirectUris: string[]; keyFile: string; audience: string } {
  const issuer = env.ISSUER || "http://localhost:8080/idp";
  try {
    new URL(issuer);
  } catch {
    throw new Error(`ISSUER="${issuer}" is not a URL (e.g. http://localhost:8080/idp)`);
  }
  const redirectUris = (env.REDIRECT_URIS || "http://localhost:8080/").split(/[,\s]+/).filter(Boolean);
  const keyFile = env.KEY_FILE || path.join(os.tmpdir(), "skiff-idp", "signing-key.json");
  return { issuer, redirectUris, keyFile, audience: env.AUDIENCE || CLIENT_ID };
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  let body = "";
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 8192) throw new Error("form too large");
  }
  return new URLSearchParams(body);
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(html) });
  res.end(html);
}

async function main(): Promise<void> {
  let settings;
  try {
    settings = settingsFromEnv(process.env);
  } catch (error) {
    log(APP, { level: "error", msg: (error as Error).message });
    process.exit(2);
  }
  const signingKey = await loadOrCreateSigningKey(settings.keyFile);
  const provider = createProvider({ ...settings, signingKey });
  const mount = mountPathOf(settings.issuer);
  const oidc = provider.callback();
  const interaction = /^\/interaction\/([\w-]+)(\/login)?$/;

  await runApp({
    name: APP,
    describe: { issuer: settings.issuer },
    handler: async (req, res) => {
      const original = req.url ?? "/";
      if (mount !== "" && original !== mount && !original.startsWith(`${mount}/`) && !original.startsWith(`${mount}?`)) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`not found: the IdP lives under ${mount}/\n`);
        return;
      }
      // Mounted under the issuer's path: oidc-provider reads the prefix from originalUrl,
      // as when mounted in express, and builds its URLs with it.
      (req as http.IncomingMessage & { originalUrl?: string }).originalUrl = original;
      req.url = original.slice(mount.length) || "/";
      const local = new URL(req.url, "http://idp").pathname;
      const match = interaction.exec(local);
      if (match === null) return oidc(req, res);

      const details = await provider.interactionDetails(req, res);
      const action = `${mount}/interaction/${details.uid}/login`;
      const clientId = String(details.params.client_id ?? "");
      if (match[2] === undefined && req.method === "GET") return sendHtml(res, 200, loginPage(action, clientId));
      if (match[2] !== undefined && req.method === "POST") {
        const form = await readForm(req);
        const account = checkCredentials(form.get("username") ?? "", form.get("password") ?? "");
        if (account === undefined) {
          log(APP, { msg: "login refused", username: form.get("username") });
          return sendHtml(res, 401, loginPage(action, clientId, "Wrong username or password."));
        }
        await provider.interactionFinished(req, res, { login: { accountId: account.username } }, { mergeWithLastSubmission: false });
        return;
      }
      res.writeHead(405, { "content-type": "text/plain" }).end("method not allowed\n");
    },
  });
}

await main();

// Types for the one undici module the HTTP/1.1 pool imports (pool-h1.ts): the Client
// class alone, without undici's index (fetch, WebSocket, cache: +3 MB of heap per
// proxy, docs/performance.md "Proxy memory"). undici has no `exports` map, so the deep
// path is importable; the types are the package's own.
declare module "undici/lib/dispatcher/client.js" {
  import type { Client } from "undici";
  const ClientClass: typeof Client;
  export default ClientClass;
}

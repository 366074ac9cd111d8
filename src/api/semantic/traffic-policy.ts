// A DestinationRule's traffic policy (also per subset and per port): connection pool,
// outlier detection, load balancer and client TLS.
import { Findings, at } from "./findings.ts";
import { has, list, num, obj, str, type Obj } from "./read.ts";
import { checkDuration } from "./common.ts";
import { checkClientTls } from "./tls.ts";
import { checkPort } from "./ports.ts";

export function checkTrafficPolicy(f: Findings, path: string, value: unknown): void {
  const tp = obj(value);
  if (!tp) return;
  checkConnectionPool(f, at(path, "connectionPool"), obj(tp.connectionPool));
  checkOutlierDetection(f, at(path, "outlierDetection"), obj(tp.outlierDetection));
  checkLoadBalancer(f, at(path, "loadBalancer"), obj(tp.loadBalancer));
  checkClientTls(f, at(path, "tls"), tp.tls);
  const seen = new Map<number, string>();
  for (const [i, raw] of list(tp.portLevelSettings).entries()) {
    const pl = obj(raw);
    if (!pl) continue;
    const p = at(path, "portLevelSettings", i);
    const port = num(obj(pl.port)?.number);
    if (port === undefined) f.error(at(p, "port"), "port level traffic policy must name a port", "add port.number");
    else {
      checkPort(f, at(p, "port", "number"), port);
      const first = seen.get(port);
      if (first) f.error(at(p, "port", "number"), `duplicate port level settings for port ${port} (also at ${first})`, "merge the settings into one entry");
      else seen.set(port, p);
    }
    if (!has(pl, "connectionPool") && !has(pl, "outlierDetection") && !has(pl, "loadBalancer") && !has(pl, "tls")) {
      f.error(p, "port level traffic policy must have at least one of connectionPool, outlierDetection, loadBalancer or tls", "add a setting or remove the entry");
    }
    checkConnectionPool(f, at(p, "connectionPool"), obj(pl.connectionPool));
    checkOutlierDetection(f, at(p, "outlierDetection"), obj(pl.outlierDetection));
    checkLoadBalancer(f, at(p, "loadBalancer"), obj(pl.loadBalancer));
    checkClientTls(f, at(p, "tls"), pl.tls);
  }
}

function nonNegative(f: Findings, path: string, o: Obj, fields: string[]): void {
  for (const field of fields) {
    const v = num(o[field]);
    if (v !== undefined && v < 0) f.error(at(path, field), `${field} ${v} must not be negative`, "use 0 or a positive number");
  }
}

function checkConnectionPool(f: Findings, path: string, cp: Obj | undefined): void {
  if (!cp) return;
  if (!has(cp, "tcp") && !has(cp, "http")) f.error(path, "connection pool must have at least one of tcp or http", "add settings or remove connectionPool");
  const http = obj(cp.http);
  if (http) {
    nonNegative(f, at(path, "http"), http, ["http1MaxPendingRequests", "http2MaxRequests", "maxRequestsPerConnection", "maxRetries", "maxConcurrentStreams"]);
    if (has(http, "idleTimeout")) checkDuration(f, at(path, "http", "idleTimeout"), http.idleTimeout);
    if (str(http.h2UpgradePolicy) === "UPGRADE" && http.useClientProtocol === true) f.error(at(path, "http", "useClientProtocol"), "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE", "drop one of them");
  }
  const tcp = obj(cp.tcp);
  if (tcp) {
    nonNegative(f, at(path, "tcp"), tcp, ["maxConnections"]);
    for (const field of ["connectTimeout", "maxConnectionDuration"]) if (has(tcp, field)) checkDuration(f, at(path, "tcp", field), tcp[field]);
    if (has(tcp, "idleTimeout")) checkDuration(f, at(path, "tcp", "idleTimeout"), tcp.idleTimeout, { allowZero: true });
    const ka = obj(tcp.tcpKeepalive);
    if (ka) for (const field of ["time", "interval"]) if (has(ka, field)) checkDuration(f, at(path, "tcp", "tcpKeepalive", field), ka[field]);
  }
}

function checkOutlierDetection(f: Findings, path: string, od: Obj | undefined): void {
  if (!od) return;
  if (has(od, "consecutiveErrors")) f.warn(at(path, "consecutiveErrors"), "consecutiveErrors is deprecated", "use consecutive5xxErrors (or consecutiveGatewayErrors)");
  nonNegative(f, path, od, ["consecutiveErrors", "consecutive5xxErrors", "consecutiveGatewayErrors", "consecutiveLocalOriginFailures"]);
  for (const field of ["interval", "baseEjectionTime"]) if (has(od, field)) checkDuration(f, at(path, field), od[field]);
  for (const field of ["maxEjectionPercent", "minHealthPercent"]) {
    const v = num(od[field]);
    if (v !== undefined && (v < 0 || v > 100)) f.error(at(path, field), `${field} ${v} must be between 0 and 100`, "use a percentage from 0 to 100");
  }
}

function checkLoadBalancer(f: Findings, path: string, lb: Obj | undefined): void {
  if (!lb) return;
  const ch = obj(lb.consistentHash);
  if (ch) {
    const cookie = obj(ch.httpCookie);
    if (cookie && !str(cookie.name)) f.error(at(path, "consistentHash", "httpCookie", "name"), "httpCookie needs a name", "name the cookie to hash on");
    if (cookie && has(cookie, "ttl")) checkDuration(f, at(path, "consistentHash", "httpCookie", "ttl"), cookie.ttl, { allowZero: true });
    if (has(ch, "minimumRingSize")) {
      f.warn(at(path, "consistentHash", "minimumRingSize"), "consistentHash.minimumRingSize is deprecated", "use consistentHash.ringHash.minimumRingSize");
      if (has(ch, "ringHash") || has(ch, "maglev")) f.error(at(path, "consistentHash"), "only one of minimumRingSize or ringHash/maglev can be set", "move minimumRingSize into ringHash");
    }
    const maglev = obj(ch.maglev);
    const size = num(maglev?.tableSize);
    if (maglev && (size === undefined || size === 0)) f.error(at(path, "consistentHash", "maglev", "tableSize"), "tableSize must be set for maglev", "use a prime number such as 65537");
    else if (size !== undefined && (size >= 5000011 || !isPrime(size))) f.error(at(path, "consistentHash", "maglev", "tableSize"), `maglev tableSize ${size} must be a prime number below 5000011`, "use a prime number such as 65537");
  }
  const locality = obj(lb.localityLbSetting);
  if (locality) {
    if (list(locality.distribute).length > 0 && list(locality.failover).length > 0) f.error(at(path, "localityLbSetting"), "locality load balancing cannot set both distribute and failover", "keep one of them");
    for (const [i, raw] of list(locality.distribute).entries()) {
      const to = obj(obj(raw)?.to);
      if (!to) continue;
      const total = Object.values(to).reduce<number>((sum, v) => sum + (num(v) ?? 0), 0);
      if (total !== 100) f.error(at(path, "localityLbSetting", "distribute", i, "to"), `locality weights must sum to 100 (they sum to ${total})`, "adjust the weights so they add up to 100");
    }
  }
  if (has(lb, "warmupDurationSecs")) checkDuration(f, at(path, "warmupDurationSecs"), lb.warmupDurationSecs);
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

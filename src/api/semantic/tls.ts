// TLS settings: a Gateway server's (ServerTLSSettings) and a client's in a DestinationRule
// (ClientTLSSettings). What each mode requires follows Istio's validation.
import { Findings, at } from "./findings.ts";
import { has, list, obj, str } from "./read.ts";

const TLS_VERSIONS = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"];

export function checkServerTls(f: Findings, path: string, value: unknown, opts: { gateway: boolean }): void {
  const tls = obj(value);
  if (!tls) return;
  const mode = str(tls.mode) ?? "PASSTHROUGH";
  const credential = Boolean(str(tls.credentialName)) || list(tls.credentialNames).length > 0;
  const fileFields = ["serverCertificate", "privateKey", "caCertificates"].filter((k) => Boolean(str(tls[k])));

  if (tls.httpsRedirect === true && !has(tls, "mode")) return; // a plain-HTTP server that only redirects

  if (mode === "SIMPLE" || mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL") {
    if (credential && fileFields.length > 0) {
      f.warn(path, `${mode} TLS sets credentialName, so ${fileFields.join(", ")} ${fileFields.length > 1 ? "are" : "is"} ignored`, "use either credentialName (a Secret) or certificate files");
    }
    if (!credential) {
      if (!str(tls.serverCertificate)) f.error(at(path, "serverCertificate"), `${mode} TLS requires a server certificate`, "set credentialName to a TLS Secret, or serverCertificate and privateKey");
      if (!str(tls.privateKey)) f.error(at(path, "privateKey"), `${mode} TLS requires a private key`, "set credentialName to a TLS Secret, or serverCertificate and privateKey");
      if (mode !== "SIMPLE" && !str(tls.caCertificates)) f.error(at(path, "caCertificates"), `${mode} TLS requires a CA bundle to verify client certificates`, "set caCertificates, or use credentialName with a Secret holding ca.crt");
    }
  }
  if (mode === "ISTIO_MUTUAL" && (credential || fileFields.length > 0)) {
    f.error(path, `ISTIO_MUTUAL TLS uses the mesh's certificates; it cannot set ${credential ? "credentialName" : fileFields.join(", ")}`, "remove the certificate fields, or use MUTUAL");
  }
  if (mode === "AUTO_PASSTHROUGH" && !opts.gateway) f.error(at(path, "mode"), "AUTO_PASSTHROUGH is only valid on a Gateway", "use PASSTHROUGH or SIMPLE");
  if (mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH") {
    if (credential || fileFields.length > 0) f.warn(path, `${mode} TLS does not terminate TLS; certificate settings are ignored`, "remove the certificate fields, or use SIMPLE");
  }
  const min = str(tls.minProtocolVersion);
  const max = str(tls.maxProtocolVersion);
  if (min && max && min !== "TLS_AUTO" && max !== "TLS_AUTO" && TLS_VERSIONS.indexOf(min) > TLS_VERSIONS.indexOf(max)) {
    f.error(at(path, "minProtocolVersion"), `minProtocolVersion ${min} is newer than maxProtocolVersion ${max}`, "make minProtocolVersion at most maxProtocolVersion");
  }
}

export function checkClientTls(f: Findings, path: string, value: unknown): void {
  const tls = obj(value);
  if (!tls) return;
  const mode = str(tls.mode) ?? "DISABLE";
  const credential = Boolean(str(tls.credentialName));
  if ((mode === "SIMPLE" || mode === "MUTUAL") && credential) {
    const files = ["clientCertificate", "privateKey", "caCertificates", "caCrl"].filter((k) => Boolean(str(tls[k])));
    if (files.length > 0) f.error(path, `credentialName cannot be combined with ${files.join(", ")}`, "use either credentialName (a Secret) or certificate files");
  }
  if (mode === "MUTUAL" && !credential) {
    if (!str(tls.clientCertificate)) f.error(at(path, "clientCertificate"), "MUTUAL TLS requires a client certificate", "set credentialName, or clientCertificate and privateKey");
    if (!str(tls.privateKey)) f.error(at(path, "privateKey"), "MUTUAL TLS requires a private key", "set credentialName, or clientCertificate and privateKey");
  }
  if (mode === "ISTIO_MUTUAL") {
    const set = ["clientCertificate", "privateKey", "caCertificates", "credentialName", "caCrl"].filter((k) => Boolean(str(tls[k])));
    if (set.length > 0) f.error(path, `ISTIO_MUTUAL TLS uses the mesh's certificates; it cannot set ${set.join(", ")}`, "remove them, or use MUTUAL");
  }
  if (mode === "DISABLE") {
    const set = ["clientCertificate", "privateKey", "caCertificates", "credentialName", "sni"].filter((k) => Boolean(str(tls[k])));
    if (set.length > 0) f.warn(path, `TLS mode DISABLE ignores ${set.join(", ")}`, "set mode: SIMPLE or MUTUAL, or remove them");
  }
}

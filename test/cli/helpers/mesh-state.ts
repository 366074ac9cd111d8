// A run directory's state file as `skiff up` writes it, for the commands that find proxies
// through it (proxy-config, logs, the proxy resolver). Only the processes and the gateway's
// admin port matter to them; the other ports are placeholders nothing dials.
import { writeState, type ProcessRecord } from "../../../src/runtime/run-dir.ts";

export function writeMeshState(runDir: string, o: { gatewayAdminPort: number; processes: ProcessRecord[] }): void {
  writeState(runDir, {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    files: [],
    apiPort: 1,
    xdsPort: 2,
    monitoringPort: 3,
    gateway: { httpPort: 8080, adminPort: o.gatewayAdminPort },
    processes: o.processes,
  });
}

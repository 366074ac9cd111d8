// The proxy's logger: one line per event on stderr, with a level the admin /logging
// endpoint can change at run time (Envoy's levels).

export const logLevels = ["trace", "debug", "info", "warning", "error", "critical", "off"] as const;
export type LogLevel = (typeof logLevels)[number];

export class Logger {
  level: LogLevel;

  constructor(
    level: LogLevel = "info",
    private readonly sink: (line: string) => void = (line) => process.stderr.write(line + "\n"),
  ) {
    this.level = level;
  }

  enabled(level: LogLevel): boolean {
    return logLevels.indexOf(level) >= logLevels.indexOf(this.level) && this.level !== "off";
  }

  log(level: "debug" | "info" | "warn" | "error", msg: string): void {
    const l: LogLevel = level === "warn" ? "warning" : level;
    if (!this.enabled(l)) return;
    this.sink(`${new Date().toISOString()} ${l} skiff-proxy: ${msg}`);
  }
}

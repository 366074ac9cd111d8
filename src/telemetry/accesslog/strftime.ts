// The time formats Envoy accepts in %START_TIME(...)%, compiled once into a list of
// field writers. Envoy formats in UTC unless told otherwise; so does Skiff.
// Supported: %Y %y %m %d %e %H %M %S %j %a %A %b %B %T %F %D %R %p %z %Z %s %%
// and the fractional forms %f (9 digits), %1f..%9f, %E3S style (%E<n>S = seconds
// with n fraction digits) as absl (Envoy's time library) spells them.

type Part = (t: TimeParts) => string;

interface TimeParts {
  d: Date;
  /** Nanoseconds within the second, 0..999999999. */
  nanos: number;
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

function fraction(nanos: number, digits: number): string {
  return String(nanos).padStart(9, "0").slice(0, digits);
}

export type TimeFormatter = (epochMs: number, subMsNs: number) => string;

/** Envoy's default: `%Y-%m-%dT%H:%M:%E3SZ` (`2024-06-02T13:24:57.930Z`). */
export const DEFAULT_START_TIME_FORMAT = "%Y-%m-%dT%H:%M:%E3SZ";

export function compileTimeFormat(format: string): TimeFormatter {
  const parts: Part[] = [];
  let literal = "";
  const flush = () => {
    if (literal !== "") {
      const text = literal;
      parts.push(() => text);
      literal = "";
    }
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== "%" || i === format.length - 1) {
      literal += c;
      continue;
    }
    let spec = format[++i];
    let digits = -1;
    if (spec === "E" && /^\d$/.test(format[i + 1] ?? "") && format[i + 2] === "S") {
      const n = Number(format[i + 1]);
      i += 2;
      flush();
      parts.push((t) => pad(t.d.getUTCSeconds()) + (n > 0 ? "." + fraction(t.nanos, n) : ""));
      continue;
    }
    if (/^[1-9]$/.test(spec) && format[i + 1] === "f") {
      digits = Number(spec);
      spec = "f";
      i++;
    }
    const part = field(spec, digits);
    if (part === undefined) {
      literal += "%" + spec;
      continue;
    }
    flush();
    parts.push(part);
  }
  flush();
  return (epochMs, subMsNs) => {
    const t: TimeParts = { d: new Date(epochMs), nanos: (((epochMs % 1000) + 1000) % 1000) * 1e6 + subMsNs };
    let out = "";
    for (const p of parts) out += p(t);
    return out;
  };
}

function field(spec: string, digits: number): Part | undefined {
  switch (spec) {
    case "Y": return (t) => String(t.d.getUTCFullYear());
    case "y": return (t) => pad(t.d.getUTCFullYear() % 100);
    case "m": return (t) => pad(t.d.getUTCMonth() + 1);
    case "d": return (t) => pad(t.d.getUTCDate());
    case "e": return (t) => String(t.d.getUTCDate()).padStart(2, " ");
    case "H": return (t) => pad(t.d.getUTCHours());
    case "M": return (t) => pad(t.d.getUTCMinutes());
    case "S": return (t) => pad(t.d.getUTCSeconds());
    case "j": return (t) => pad(Math.floor((Date.UTC(t.d.getUTCFullYear(), t.d.getUTCMonth(), t.d.getUTCDate()) - Date.UTC(t.d.getUTCFullYear(), 0, 1)) / 86400000) + 1, 3);
    case "a": return (t) => DAYS[t.d.getUTCDay()].slice(0, 3);
    case "A": return (t) => DAYS[t.d.getUTCDay()];
    case "b": case "h": return (t) => MONTHS[t.d.getUTCMonth()].slice(0, 3);
    case "B": return (t) => MONTHS[t.d.getUTCMonth()];
    case "T": return (t) => `${pad(t.d.getUTCHours())}:${pad(t.d.getUTCMinutes())}:${pad(t.d.getUTCSeconds())}`;
    case "R": return (t) => `${pad(t.d.getUTCHours())}:${pad(t.d.getUTCMinutes())}`;
    case "F": return (t) => `${t.d.getUTCFullYear()}-${pad(t.d.getUTCMonth() + 1)}-${pad(t.d.getUTCDate())}`;
    case "D": return (t) => `${pad(t.d.getUTCMonth() + 1)}/${pad(t.d.getUTCDate())}/${pad(t.d.getUTCFullYear() % 100)}`;
    case "p": return (t) => (t.d.getUTCHours() < 12 ? "AM" : "PM");
    case "z": return () => "+0000";
    case "Z": return () => "UTC";
    case "s": return (t) => String(Math.floor(t.d.getTime() / 1000));
    case "f": {
      const n = digits < 0 ? 9 : digits;
      return (t) => fraction(t.nanos, n);
    }
    case "%": return () => "%";
    default: return undefined;
  }
}

// Request/response header additions and removals (HeaderValueOption lists and
// *_headers_to_remove), compiled once per route configuration level.
import { ConfigError, arr, obj, onlyFields, str } from "./json.ts";

type AppendAction = "append" | "addIfAbsent" | "overwrite" | "overwriteIfExists";

interface HeaderAdd {
  key: string;
  value: string;
  action: AppendAction;
}

/** A mutable header map: node's IncomingHttpHeaders / OutgoingHttpHeaders shape. */
export type HeaderMap = Record<string, string | string[] | number | undefined>;

/** Whether a request's or response's headers say gRPC (any application/grpc content type). */
export function isGrpcContent(headers: HeaderMap): boolean {
  const ct = headers["content-type"];
  return typeof ct === "string" && ct.startsWith("application/grpc");
}

export class HeaderMutation {
  static readonly empty = new HeaderMutation([], []);

  constructor(
    private readonly adds: readonly HeaderAdd[],
    private readonly removes: readonly string[],
  ) {}

  get isEmpty(): boolean {
    return this.adds.length === 0 && this.removes.length === 0;
  }

  /** Envoy applies removals, then additions, at each level. */
  apply(headers: HeaderMap): void {
    for (const name of this.removes) delete headers[name];
    for (const add of this.adds) {
      const existing = headers[add.key];
      switch (add.action) {
        case "append":
          if (existing === undefined) headers[add.key] = add.value;
          else if (Array.isArray(existing)) existing.push(add.value);
          else if (add.key === "cookie" || add.key === "set-cookie") headers[add.key] = [String(existing), add.value];
          else headers[add.key] = `${existing},${add.value}`;
          break;
        case "addIfAbsent":
          if (existing === undefined) headers[add.key] = add.value;
          break;
        case "overwrite":
          headers[add.key] = add.value;
          break;
        case "overwriteIfExists":
          if (existing !== undefined) headers[add.key] = add.value;
          break;
      }
    }
  }
}

const appendActions: Record<string, AppendAction> = {
  APPEND_IF_EXISTS_OR_ADD: "append",
  ADD_IF_ABSENT: "addIfAbsent",
  OVERWRITE_IF_EXISTS_OR_ADD: "overwrite",
  OVERWRITE_IF_EXISTS: "overwriteIfExists",
};

/** Envoy's header value formatters (%...%) are not implemented: reject rather than send them literally. */
const formatter = /%[A-Z_]+(\([^)]*\))?%/;

export function compileHeaderMutation(addsJson: unknown, removesJson: unknown, path: string, addField: string): HeaderMutation {
  const adds: HeaderAdd[] = [];
  arr(addsJson).forEach((option, i) => {
    const p = `${path}.${addField}[${i}]`;
    onlyFields(option, p, ["header", "append", "append_action", "keep_empty_value"]);
    const header = obj(option.header) ?? {};
    onlyFields(header, `${p}.header`, ["key", "value", "raw_value"]);
    const key = str(header.key)?.toLowerCase();
    if (!key) throw new ConfigError(`${p}.header.key`, "header key is required");
    const raw = str(header.raw_value);
    const value = raw ? Buffer.from(raw, "base64").toString("utf8") : (str(header.value) ?? "");
    if (formatter.test(value)) throw new ConfigError(`${p}.header.value`, `header value formatters like "${value}" are not implemented`);
    let action: AppendAction = "append";
    if (option.append_action !== undefined) {
      const a = appendActions[String(option.append_action)];
      if (!a) throw new ConfigError(`${p}.append_action`, `unknown append_action ${String(option.append_action)}`);
      action = a;
    } else if (option.append === false) action = "overwrite";
    adds.push({ key, value: value.replaceAll("%%", "%"), action });
  });
  const removes = arr(removesJson).map((name) => String(name).toLowerCase());
  if (adds.length === 0 && removes.length === 0) return HeaderMutation.empty;
  return new HeaderMutation(adds, removes);
}

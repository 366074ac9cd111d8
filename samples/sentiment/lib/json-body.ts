// Reading a request's JSON body with a size limit, and turning the ways it can be wrong
// into a 4xx the caller can act on (never a stack trace).
import type http from "node:http";

/** A client mistake: the app answers `status` with `{"error": message}`. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_LIMIT = 64 * 1024;

export async function readJsonObject(req: http.IncomingMessage, limit = DEFAULT_LIMIT): Promise<Record<string, unknown>> {
  // The content-type is not checked: `curl -d '{"sentence": ...}'` sends a form type, and
  // refusing that would only trip up people following the tutorial by hand.
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RequestError(413, `the body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    throw new RequestError(400, `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new RequestError(400, "the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** The `sentence` field every API of the demo takes: a non-empty string. */
export function sentenceOf(body: Record<string, unknown>): string {
  const sentence = body.sentence;
  if (typeof sentence !== "string" || sentence.trim() === "") {
    throw new RequestError(400, 'field "sentence" must be a non-empty string, e.g. {"sentence": "I love this"}');
  }
  return sentence;
}

// Durable feedback storage: one JSON object per line in <dir>/feedback.jsonl.
// Each append is written and fsynced before the caller is told it is stored, so an
// acknowledged entry survives a crash or restart; appends are queued one at a time so
// concurrent requests never interleave their bytes. A torn last line (a crash mid-write,
// never acknowledged) is skipped when reading instead of making the file unreadable.
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

export interface Feedback {
  sentence: string;
  polarity: number;
  correct: boolean;
  [extra: string]: unknown;
}

export interface FeedbackEntry extends Feedback {
  id: string;
  receivedAt: string;
}

export class FeedbackStore {
  readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {
    this.file = path.join(dir, "feedback.jsonl");
  }

  static async open(dir: string): Promise<FeedbackStore> {
    await fs.mkdir(dir, { recursive: true });
    const store = new FeedbackStore(dir);
    // Create the file and make its directory entry durable once, so later appends only
    // need to sync the file itself.
    const created = await fs.open(store.file, "a").then(async (handle) => {
      const { size } = await handle.stat();
      await handle.close();
      return size === 0;
    });
    if (created) await syncDir(dir);
    return store;
  }

  append(fields: Feedback): Promise<FeedbackEntry> {
    const entry: FeedbackEntry = { ...fields, id: randomUUID(), receivedAt: new Date().toISOString() };
    const line = `${JSON.stringify(entry)}\n`;
    const write = this.queue.then(async () => {
      const handle = await fs.open(this.file, "a");
      try {
        await handle.write(line);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return entry;
    });
    this.queue = write.catch(() => undefined);
    return write;
  }

  async list(): Promise<{ entries: FeedbackEntry[]; skipped: number }> {
    await this.queue; // read after the writes already acknowledged
    const text = await fs.readFile(this.file, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return "";
      throw err;
    });
    const entries: FeedbackEntry[] = [];
    let skipped = 0;
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        entries.push(JSON.parse(line) as FeedbackEntry);
      } catch {
        skipped++;
      }
    }
    return { entries, skipped };
  }
}

async function syncDir(dir: string): Promise<void> {
  // Directory fsync is how POSIX makes a new file's name durable; Windows cannot open a
  // directory for it, and there the call is only best effort.
  try {
    const handle = await fs.open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* best effort, see above */
  }
}

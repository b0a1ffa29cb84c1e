import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A note a reader leaves when it finds a collection's files damaged, so that the next ingest repairs them.
 * An ingest reads only the columns it needs (sources and their fingerprints): a data file garbled in the text
 * or vector pages fails every search but not the ingest, which would then find every source unchanged and
 * leave the damage in place. The note makes that ingest run the repair (repair.ts) first. It lives with the
 * other traces of damage in `<store>/damaged/`; writing it is best effort (a read-only store folder cannot
 * take it, and the reader's error is what matters), and the repair removes it.
 */

export const DAMAGED_DIR = "damaged";

function notePath(folder: string, collection: string): string {
  return join(folder, DAMAGED_DIR, `${collection}.needs-repair.json`);
}

/** Record that `collection` was found damaged, with the one-line diagnosis; never throws. */
export async function noteDamage(folder: string, collection: string, message: string): Promise<void> {
  try {
    await mkdir(join(folder, DAMAGED_DIR), { recursive: true });
    const note = { collection, foundAt: new Date().toISOString(), message };
    await writeFile(notePath(folder, collection), `${JSON.stringify(note, null, 2)}\n`);
  } catch {
    // Best effort: the caller reports the damage either way.
  }
}

/** Whether a reader noted `collection` as damaged since the last repair. */
export async function damageNoted(folder: string, collection: string): Promise<boolean> {
  try {
    await readFile(notePath(folder, collection));
    return true;
  } catch {
    return false;
  }
}

export async function clearDamageNote(folder: string, collection: string): Promise<void> {
  await rm(notePath(folder, collection), { force: true });
}

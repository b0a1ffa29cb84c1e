import { StoreDamagedError, StoreError } from "../errors.js";

/**
 * What went wrong under an embedded store, said for the person who has to fix it: a full disk, a folder mrag
 * may not write, or damaged files (truncated or garbled by a crash of the disk, a copy cut short, an editor),
 * each naming the folder and what to do. LanceDB reports all of these as IO errors with Rust source paths;
 * the errno code or its text tells them apart. A data file garbled inside a page is worse: LanceDB's decoder
 * panics (an out-of-range slice, an unwrap of a missing value), and its napi layer rejects the call with only
 * "Panic in async function" (the panic's own text went to fd 2; see src/cli/native-stderr.ts). Store files
 * are the only input those decoders see, so a panic reading them is taken for damage too.
 */
const PANIC = /Panic in (async|sync) function|panicked|JoinError::Panic/i;
const NO_SPACE = /ENOSPC|no space left|os error 28\b|disk quota|EDQUOT|os error 122\b/i;
const NOT_WRITABLE = /EACCES|EPERM|EROFS|permission denied|read-only file system|os error (13|1|30)\b/i;
const DAMAGED =
  /failed to fill whole buffer|does not have sufficient data|unexpected end|corrupt|invalid (manifest|data|file|footer|magic)|protobuf|decode|checksum|magic|not a valid|out of range|truncated|Invalid range \d+\.\.\d+ for object of size|Not found: .*\.(lance|manifest|txn)/i;

/** The cause in one short line: no Rust source locations, no repeated "Caused by" chain. */
export function shortCause(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (PANIC.test(text)) return "LanceDB crashed decoding its files";
  const first = text.split(/\s+Caused by:/)[0] ?? text;
  const line = first
    .replace(/,?\s*\/(rustc|usr\/local\/cargo|root\/\.cargo)\/\S+/g, "")
    .replace(/\s+/g, " ")
    .trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** Whether `error` says store files are unreadable (not a full disk, not a permission problem). */
export function isDamage(error: unknown): boolean {
  if (error instanceof StoreDamagedError) return true;
  const probe = `${codeOf(error)} ${shortCause(error)}`;
  if (panicked(error)) return true;
  return DAMAGED.test(probe) && !NO_SPACE.test(probe) && !NOT_WRITABLE.test(probe);
}

function panicked(error: unknown): boolean {
  return PANIC.test(error instanceof Error ? error.message : String(error));
}

function codeOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : "";
}

/** A StoreError for `what` failing at `location`, classified when the cause is a known store condition. */
export function storeFailure(what: string, location: string, error: unknown): StoreError {
  const cause = shortCause(error);
  const probe = `${codeOf(error)} ${cause}`;
  if (NO_SPACE.test(probe)) {
    return new StoreError(
      `${what} failed: no space left on the disk holding ${location}; free space, then run the ingest again ` +
        "(each source is replaced whole, so what was stored stays readable)",
      { cause: error },
    );
  }
  if (NOT_WRITABLE.test(probe)) {
    return new StoreError(
      `${what} failed: cannot write the store folder ${location} (${cause}); fix its permissions or mount it ` +
        "read-write, or pass a writable folder with --store",
      { cause: error },
    );
  }
  if (panicked(error) || DAMAGED.test(probe)) {
    return new StoreDamagedError(
      `${what} failed: the store at ${location} is damaged (${cause}); ingest your documents again to ` +
        "repair it (mrag ingest <paths>); if that fails, move the folder away and ingest your documents again, or " +
        "restore it from a backup",
      { cause: error },
    );
  }
  return new StoreError(`${what} at ${location} failed: ${cause}`, { cause: error });
}

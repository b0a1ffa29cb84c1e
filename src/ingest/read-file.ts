import { constants, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import type { SkippedSource } from "./types.js";

/** What a non-regular file is, for the skip reason ("a FIFO (named pipe)"). */
export function specialKind(info: Pick<Stats, "isFIFO" | "isSocket" | "isCharacterDevice" | "isBlockDevice">): string {
  if (info.isFIFO()) return "a FIFO (named pipe)";
  if (info.isSocket()) return "a socket";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  return "an unknown kind of file";
}

/**
 * Read a file the walk found, within `maxBytes`, never blocking on it:
 * - opened `O_NONBLOCK`, so a FIFO swapped in after the walk cannot hang the open, then refused by `fstat`
 *   unless it is a regular file (devices and sockets too);
 * - read up to `maxBytes + 1` bytes, whatever size it claims: `/proc` and `/sys` files say 0 and a growing
 *   file says less than it holds;
 * - `noFollow`: refused (ELOOP) when the path has become a symlink since the walk (it could point outside the
 *   allowed roots).
 */
export async function readRegularFile(
  absPath: string,
  source: string,
  options: { maxBytes: number; noFollow: boolean },
): Promise<Buffer | SkippedSource> {
  let flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
  if (options.noFollow) flags |= constants.O_NOFOLLOW;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(absPath, flags);
  } catch (error) {
    return { source, reason: "unreadable", detail: (error as Error).message };
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { source, reason: "unsupported", detail: `${specialKind(info)}, not a regular file` };
    const limit = options.maxBytes + 1;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(limit - total, 1 << 20);
      if (want <= 0) break;
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buffer, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > options.maxBytes) {
      return {
        source,
        reason: "too-large",
        detail: `more than ${options.maxBytes} bytes when read (it claimed ${info.size}); over the limit`,
      };
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    return { source, reason: "unreadable", detail: (error as Error).message };
  } finally {
    await handle.close();
  }
}

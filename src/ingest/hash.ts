import { createHash } from "node:crypto";

/** sha256 of bytes or of a string's UTF-8 encoding, as lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

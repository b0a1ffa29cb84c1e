/**
 * The value of a string field of a JSON object that is still being written: `{"answer": "Stephen Ki` gives
 * `Stephen Ki`. Escapes are decoded; an escape cut in half is left for the next call. Undefined until the
 * field's opening quote has arrived.
 */
export function partialStringField(json: string, field: string): string | undefined {
  const opening = new RegExp(`"${field}"\\s*:\\s*"`).exec(json);
  if (!opening) return undefined;
  let out = "";
  for (let i = opening.index + opening[0].length; i < json.length; i++) {
    const ch = json[i] as string;
    if (ch === '"') return out;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = json[i + 1];
    if (next === undefined) return out;
    if (next === "u") {
      const hex = json.slice(i + 2, i + 6);
      if (hex.length < 4) return out;
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 5;
      continue;
    }
    const simple: Record<string, string> = {
      n: "\n",
      t: "\t",
      r: "\r",
      b: "\b",
      f: "\f",
      '"': '"',
      "\\": "\\",
      "/": "/",
    };
    out += simple[next] ?? next;
    i += 1;
  }
  return out;
}

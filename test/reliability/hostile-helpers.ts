import { writeFileSync } from "node:fs";
import path from "node:path";
import { constants, createDeflate, deflateSync } from "node:zlib";
import fc from "fast-check";

/* ------------------------------------------------------------------------------------------------------------
 * Hostile JSON values for fuzzing tool arguments.
 * ---------------------------------------------------------------------------------------------------------- */

/** Keys that break naive `obj[key] = value` code or shadow Object.prototype members. */
export const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty"] as const;

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const nasty = fc.constantFrom(
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\n\t\r",
  "\u202e\u200b\ufeff",
  "../../../../etc/passwd",
  "/etc/passwd",
  "C:\\Windows\\win.ini",
  "%00",
  ["$", "{jndi:ldap://127.0.0.1/x}"].join(""),
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  'source = "x" OR 1=1',
  "\\",
  "*",
  "%",
  "_",
  "[",
  "(?:",
  "😀".repeat(50),
  "e\u0301".repeat(40),
  "\ud800",
  "\udfff\ud800",
  "inline:",
  "http://127.0.0.1:9/x",
  "file:///etc/passwd",
  ...PROTO_KEYS,
);

/** Any string: printable, full Unicode with lone surrogates, control characters, or one of a few nasty classics. */
export function hostileString(maxLength = 64): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength }) },
    {
      weight: 2,
      arbitrary: fc
        .array(fc.oneof(loneSurrogate, fc.string({ maxLength: 3 })), { maxLength: 8 })
        .map((p) => p.join("")),
    },
    { weight: 2, arbitrary: nasty },
  );
}

/** Long strings, built cheaply: up to `max` characters of a repeated piece (with or without spaces). */
export function hugeString(max: number): fc.Arbitrary<string> {
  return fc
    .record({
      piece: fc.constantFrom("a", "milvus ", "\u0000", "😀", "\ud800", " ", "é"),
      n: fc.integer({ min: 4000, max }),
    })
    .map(({ piece, n }) => piece.repeat(Math.ceil(n / piece.length)).slice(0, n));
}

/** `[[[...]]]` or `{"a":{"a":...}}` nested `depth` deep, built from text so no recursion is needed to make it. */
export function deeplyNested(maxDepth: number): fc.Arbitrary<unknown> {
  return fc
    .record({ depth: fc.integer({ min: 1, max: maxDepth }), array: fc.boolean() })
    .map(({ depth, array }) =>
      JSON.parse(
        array ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}null${"}".repeat(depth)}`,
      ),
    );
}

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, -1, 0.5, 1e21, -1e21, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, 1e308),
);

/** Any JSON value with hostile strings and keys (prototype keys included as own properties). */
export function hostileJson(): fc.Arbitrary<unknown> {
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      hostileNumber,
      hostileString(),
      fc.array(tie("value"), { maxLength: 5 }),
      fc
        .array(fc.tuple(fc.oneof(hostileString(16), fc.constantFrom(...PROTO_KEYS)), tie("value")), { maxLength: 5 })
        .map((entries) => Object.fromEntries(entries)),
    ),
  }));
  return fc.oneof({ weight: 8, arbitrary: value }, { weight: 1, arbitrary: deeplyNested(5000) });
}

/* ------------------------------------------------------------------------------------------------------------
 * Schema-shaped arguments: from the JSON Schema a tool publishes in tools/list, values that are valid, near
 * valid (one bound off, wrong type, too long) or plain hostile, so every registered tool is fuzzed the same way.
 * ---------------------------------------------------------------------------------------------------------- */

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  anyOf?: JsonSchema[];
}

/** Known-good values for a property name (real chunk ids, source ids, cursors, search words): used often. */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

function validString(schema: JsonSchema, hint: fc.Arbitrary<unknown> | undefined): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const min = schema.minLength ?? 0;
  const max = Math.min(schema.maxLength ?? 200, 200);
  const random = fc.oneof(
    fc.string({ minLength: min, maxLength: max }),
    fc.string({ unit: "binary", minLength: min, maxLength: max }),
  );
  return hint ? fc.oneof({ weight: 3, arbitrary: hint }, { weight: 1, arbitrary: random }) : random;
}

function nearInvalid(schema: JsonSchema): fc.Arbitrary<unknown> {
  const wrongType = hostileJson();
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string": {
      const edges: fc.Arbitrary<unknown>[] = [
        fc.constant(""),
        fc.constant("   "),
        hugeString(200_000),
        fc.constant(42),
      ];
      if (schema.maxLength !== undefined) edges.push(fc.constant("x".repeat(schema.maxLength + 1)));
      if (schema.enum) edges.push(fc.constantFrom(...schema.enum.map((e) => String(e).toUpperCase()), "nope"));
      return fc.oneof(...edges, wrongType);
    }
    case "integer":
    case "number": {
      const lo = schema.minimum ?? -(2 ** 31);
      const hi = schema.maximum ?? 2 ** 31;
      return fc.oneof(
        fc.constantFrom(lo - 1, hi + 1, lo + 0.5, -1, 0, 1e300, -1e300, 2 ** 53 + 1),
        fc.constant("5"),
        fc.constant(true),
        wrongType,
      );
    }
    case "array": {
      const item = schema.items ? valueFor(schema.items, {}, 1) : hostileJson();
      return fc.oneof(
        fc.constant([]),
        fc.array(item, { minLength: (schema.maxItems ?? 100) + 1, maxLength: (schema.maxItems ?? 100) + 3 }),
        fc.array(hostileJson(), { maxLength: 4 }),
        fc.constant("not-an-array"),
        wrongType,
      );
    }
    case "object":
      return fc.oneof(fc.constant([]), fc.constant("{}"), fc.constant(null), wrongType);
    default:
      return wrongType;
  }
}

/** One value for `schema`: mostly valid, sometimes near valid, now and then anything. */
export function valueFor(schema: JsonSchema, hints: Hints, depth = 0, name?: string): fc.Arbitrary<unknown> {
  const hint = name !== undefined ? hints[name] : undefined;
  const valid = validValue(schema, hints, depth, hint);
  return fc.oneof(
    { weight: 6, arbitrary: valid },
    { weight: 2, arbitrary: nearInvalid(schema) },
    { weight: 1, arbitrary: hostileJson() },
  );
}

function validValue(
  schema: JsonSchema,
  hints: Hints,
  depth: number,
  hint: fc.Arbitrary<unknown> | undefined,
): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => validValue(s, hints, depth, hint)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return validString(schema, hint);
    case "integer":
      return hint ?? fc.integer({ min: schema.minimum ?? -1000, max: Math.min(schema.maximum ?? 1000, 1_000_000) });
    case "number":
      return fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000, noNaN: true });
    case "boolean":
      return fc.boolean();
    case "array": {
      const item = schema.items ? validValue(schema.items, hints, depth + 1, hint) : hostileJson();
      return fc.array(item, { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) });
    }
    case "object":
      return objectFor(schema, hints, depth);
    default:
      return hostileJson();
  }
}

/**
 * An object for an object schema. Half the time every present property is valid (so calls get into the
 * handlers), otherwise one property is near valid or hostile, extra keys (prototype keys among them) are added,
 * or every property is drawn wild.
 */
export function objectFor(schema: JsonSchema, hints: Hints, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const presentWith = (draw: (key: string, sub: JsonSchema) => fc.Arbitrary<unknown>) =>
    fc
      .tuple(
        ...props.map(([key, sub]) =>
          fc
            .tuple(fc.double({ min: 0, max: 1, noNaN: true }), draw(key, sub))
            .map(([roll, value]): [string, unknown] | undefined =>
              roll < (required.has(key) ? 0.97 : 0.5) ? [key, value] : undefined,
            ),
        ),
      )
      .map((entries) => entries.filter((e): e is [string, unknown] => e !== undefined));
  const valid = presentWith((key, sub) => (depth > 3 ? hostileJson() : validValue(sub, hints, depth + 1, hints[key])));
  const wild = presentWith((key, sub) => (depth > 3 ? hostileJson() : valueFor(sub, hints, depth + 1, key)));
  const extras = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS), hostileString(12)), hostileJson()), {
    minLength: 1,
    maxLength: 3,
  });
  const oneMutated =
    props.length === 0
      ? valid
      : fc
          .tuple(valid, fc.integer({ min: 0, max: props.length - 1 }))
          .chain(([entries, i]) =>
            fc
              .oneof(nearInvalid(props[i]![1]), hostileJson())
              .map((bad) => [...entries.filter(([k]) => k !== props[i]![0]), [props[i]![0], bad] as [string, unknown]]),
          );
  return fc
    .oneof(
      { weight: 5, arbitrary: valid },
      { weight: 3, arbitrary: oneMutated },
      { weight: 1, arbitrary: fc.tuple(valid, extras).map(([a, b]) => [...a, ...b]) },
      { weight: 1, arbitrary: wild },
    )
    .map((entries) => Object.fromEntries(entries));
}

/* ------------------------------------------------------------------------------------------------------------
 * Pathological PDFs, built by hand (correct xref offsets, Helvetica text).
 * ---------------------------------------------------------------------------------------------------------- */

export interface PdfStreamSpec {
  /** Stream bytes as stored (already deflated when `flate`). */
  data: Uint8Array;
  flate?: boolean;
}

/**
 * A PDF whose page i shows content stream `pageStreams[i]` (an index into `streams`): many pages can share one
 * stream, which is how a small file makes PDF.js decode the same content thousands of times.
 */
export function buildPdf(streams: readonly PdfStreamSpec[], pageStreams: readonly number[]): Buffer {
  const objects: (string | PdfStreamSpec)[] = [];
  // 1 catalog, 2 pages, 3 font, then the streams, then the pages.
  const firstStream = 4;
  const firstPage = firstStream + streams.length;
  objects.push("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push(
    `<< /Type /Pages /Kids [${pageStreams.map((_, i) => `${firstPage + i} 0 R`).join(" ")}] /Count ${pageStreams.length} >>`,
  );
  objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  objects.push(...streams);
  for (const s of pageStreams) {
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${firstStream + s} 0 R >>`,
    );
  }
  const parts: Buffer[] = [Buffer.from("%PDF-1.4\n")];
  let offset = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(offset);
    const part =
      typeof body === "string"
        ? Buffer.from(`${i + 1} 0 obj\n${body}\nendobj\n`)
        : Buffer.concat([
            Buffer.from(
              `${i + 1} 0 obj\n<< /Length ${body.data.length}${body.flate ? " /Filter /FlateDecode" : ""} >>\nstream\n`,
            ),
            body.data,
            Buffer.from("\nendstream\nendobj\n"),
          ]);
    parts.push(part);
    offset += part.length;
  });
  let xref = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) xref += `${String(o).padStart(10, "0")} 00000 n \n`;
  parts.push(
    Buffer.from(`${xref}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${offset}\n%%EOF\n`),
  );
  return Buffer.concat(parts);
}

/** A plain text page: `BT ... Tj ET`. */
export function textContent(line: string): PdfStreamSpec {
  return { data: Buffer.from(`BT /F1 12 Tf 72 720 Td (${line.replace(/[\\()]/g, (c) => `\\${c}`)}) Tj ET`) };
}

/**
 * `mebibytes` MiB of `piece` repeated, deflated as it streams (never held whole): RLE deflate of a repeated
 * piece is ~1000:1, so a 2 GiB bomb is a 2 MiB stream.
 */
export async function deflateRepeated(piece: Buffer, mebibytes: number): Promise<PdfStreamSpec> {
  const deflate = createDeflate({
    level: 9,
    strategy: piece.every((b) => b === 0) ? constants.Z_RLE : constants.Z_DEFAULT_STRATEGY,
  });
  const out: Buffer[] = [];
  deflate.on("data", (chunk: Buffer) => out.push(chunk));
  const block = Buffer.alloc(Math.floor((4 * 1024 * 1024) / piece.length) * piece.length);
  for (let i = 0; i < block.length; i += piece.length) piece.copy(block, i);
  const blocks = Math.ceil((mebibytes * 1024 * 1024) / block.length);
  for (let i = 0; i < blocks; i++) {
    if (!deflate.write(block)) await new Promise((resolve) => deflate.once("drain", resolve));
  }
  const ended = new Promise((resolve) => deflate.once("end", resolve));
  deflate.end();
  await ended;
  return { data: Buffer.concat(out), flate: true };
}

/** Small content deflated at once. */
export function deflated(content: string): PdfStreamSpec {
  return { data: deflateSync(Buffer.from(content)), flate: true };
}

/* ------------------------------------------------------------------------------------------------------------
 * Peak memory of a child process.
 * ---------------------------------------------------------------------------------------------------------- */

/**
 * Environment for a child `node` that writes its peak RSS (KiB, `process.resourceUsage().maxRSS`, threads
 * included) to `<dir>/maxrss` when it exits: a preload through NODE_OPTIONS, so the CLI runs unchanged.
 */
export function peakRssEnv(dir: string): { env: Record<string, string>; file: string } {
  const file = path.join(dir, "maxrss");
  const preload = path.join(dir, "maxrss-preload.mjs");
  writeFileSync(
    preload,
    `import { writeFileSync } from "node:fs";\nprocess.on("exit", () => writeFileSync(${JSON.stringify(file)}, String(process.resourceUsage().maxRSS)));\n`,
  );
  return { env: { NODE_OPTIONS: `--import=${preload}` }, file };
}

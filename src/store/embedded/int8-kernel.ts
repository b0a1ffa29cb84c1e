/**
 * The dense scan's inner loop as a tiny WebAssembly module with 128-bit SIMD, assembled here from its opcodes
 * (no toolchain, no dependency). Plain JavaScript does about one multiply-add per cycle; this does 16 int8
 * multiply-adds in a handful of instructions, which is what makes an exact scan of 100k vectors a
 * millisecond-scale job (docs/benchmarks.md). Node >= 16.4 runs WebAssembly SIMD without flags.
 *
 * Exported: `memory`, and `scores(rows, query, n, stride, scales, out)`: for each of `n` int8 rows of
 * `stride` bytes (a multiple of 32) starting at byte `rows`, `out[i] = f32(dot(row_i, query)) * scales[i]`.
 * Values must lie in [-127, 127]: two products then fit an i16 lane (2 x 127^2 < 2^15).
 */

const SIMD = 0xfd;
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  f32Load: 0x2a,
  f32Store: 0x38,
  i32Const: 0x41,
  i32LtU: 0x49,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  f32Mul: 0x94,
  f32ConvertI32S: 0xb2,
} as const;
/** SIMD opcodes (after the 0xfd prefix, LEB128-encoded). */
const simd = {
  v128Load: 0x00,
  v128Const: 0x0c,
  i32x4ExtractLane: 0x1b,
  i32x4ExtaddPairwiseI16x8S: 0x7e,
  i16x8Add: 0x8e,
  i16x8ExtmulLowI8x16S: 0x9c,
  i16x8ExtmulHighI8x16S: 0x9d,
  i32x4Add: 0xae,
} as const;
const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const s = (code: number) => [SIMD, ...uleb(code)];
const get = (i: number) => [op.localGet, i];
const set = (i: number) => [op.localSet, i];
const i32 = (n: number) => [op.i32Const, ...sleb(n)];

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}
function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

/** The function body of `scores`. Params 0-5: rows, query, n, stride, scales, out; locals 6-9. */
function scoresBody(): number[] {
  const [rows, query, n, stride, scales, out] = [0, 1, 2, 3, 4, 5];
  const [i, j, acc, sum] = [6, 7, 8, 9];
  // One 16-byte half-step: acc += pairwise(extmul_low(a, b) + extmul_high(a, b)), a = row[j + off], b = query[j + off].
  const half = (offset: number) => [
    ...get(acc),
    ...get(rows),
    ...get(j),
    op.i32Add,
    ...s(simd.v128Load),
    0,
    ...uleb(offset),
    ...get(query),
    ...get(j),
    op.i32Add,
    ...s(simd.v128Load),
    0,
    ...uleb(offset),
    ...set(sum), // scratch: b
    // extmul needs a and b twice; re-load instead of keeping both (loads hit L1)
    ...get(sum),
    ...s(simd.i16x8ExtmulLowI8x16S),
    ...get(rows),
    ...get(j),
    op.i32Add,
    ...s(simd.v128Load),
    0,
    ...uleb(offset),
    ...get(sum),
    ...s(simd.i16x8ExtmulHighI8x16S),
    ...s(simd.i16x8Add),
    ...s(simd.i32x4ExtaddPairwiseI16x8S),
    ...s(simd.i32x4Add),
    ...set(acc),
  ];
  const lane = (l: number) => [...get(acc), ...s(simd.i32x4ExtractLane), l];
  const code = [
    ...i32(0),
    ...set(i),
    op.block,
    0x40,
    op.loop,
    0x40,
    ...get(i),
    ...get(n),
    op.i32GeU,
    op.brIf,
    1,
    ...s(simd.v128Const),
    ...new Array<number>(16).fill(0),
    ...set(acc),
    ...i32(0),
    ...set(j),
    op.loop,
    0x40,
    ...half(0),
    ...half(16),
    ...get(j),
    ...i32(32),
    op.i32Add,
    op.localTee,
    j,
    ...get(stride),
    op.i32LtU,
    op.brIf,
    0,
    op.end,
    // out[i] = f32(sum of lanes) * scales[i]; `out` and `scales` advance by 4 per row.
    ...get(out),
    ...lane(0),
    ...lane(1),
    op.i32Add,
    ...lane(2),
    op.i32Add,
    ...lane(3),
    op.i32Add,
    op.f32ConvertI32S,
    ...get(scales),
    op.f32Load,
    2,
    0,
    op.f32Mul,
    op.f32Store,
    2,
    0,
    ...get(out),
    ...i32(4),
    op.i32Add,
    ...set(out),
    ...get(scales),
    ...i32(4),
    op.i32Add,
    ...set(scales),
    ...get(rows),
    ...get(stride),
    op.i32Add,
    ...set(rows),
    ...get(i),
    ...i32(1),
    op.i32Add,
    ...set(i),
    op.br,
    0,
    op.end,
    op.end,
    op.end,
  ];
  // locals: i, j (i32); acc, scratch (v128)
  const locals = vec([
    [2, I32],
    [2, V128],
  ]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array {
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0]]));
  const func = section(3, vec([[0]]));
  const memory = section(5, vec([[0x00, 1]]));
  const exports = section(
    7,
    vec([
      [...name("memory"), 0x02, 0],
      [...name("scores"), 0x00, 0],
    ]),
  );
  const code = section(10, vec([scoresBody()]));
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0, 0, 0, ...type, ...func, ...memory, ...exports, ...code]);
}

/** The parts of the WebAssembly API used here (the project's TypeScript lib has no DOM/WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface Int8Kernel {
  memory: WasmMemory;
  scores(rows: number, query: number, n: number, stride: number, scales: number, out: number): void;
}

let compiled: object | undefined;

/** A fresh kernel instance with its own memory (one per loaded collection version). */
export function createInt8Kernel(): Int8Kernel {
  compiled ??= new wasm.Module(moduleBytes());
  const instance = new wasm.Instance(compiled, {});
  return instance.exports as unknown as Int8Kernel;
}

/** Bytes per stored row for `dimension` components: rounded up to the kernel's 32-byte step. */
export function int8Stride(dimension: number): number {
  return Math.ceil(dimension / 32) * 32;
}

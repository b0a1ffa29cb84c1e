/**
 * The dense scan's inner loop as a tiny WebAssembly module with 128-bit SIMD, assembled here from its opcodes
 * (no toolchain, no dependency). Plain JavaScript does about one multiply-add per cycle; this does 16 int8
 * multiply-adds in a handful of instructions, which is what makes an exact scan of 100k vectors a
 * millisecond-scale job (docs/benchmarks.md). Node >= 16.4 runs WebAssembly SIMD without flags.
 *
 * Exported: `memory`, and `scores(rows, query, n, stride, scales, out)`: for each of `n` int8 rows of
 * `stride` bytes (a multiple of 32) starting at byte `rows`, `out[i] = f32(dot(row_i, query)) * scales[i]`;
 * `gather` the same for a list of row numbers; `hamming` the bit distance of binary codes to a query code.
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
  i32Load: 0x28,
  f32Load: 0x2a,
  i32Store: 0x36,
  f32Store: 0x38,
  i32Const: 0x41,
  i32LtU: 0x49,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  f32Mul: 0x94,
  f32ConvertI32S: 0xb2,
} as const;
/** SIMD opcodes (after the 0xfd prefix, LEB128-encoded). */
const simd = {
  v128Load: 0x00,
  v128Const: 0x0c,
  i32x4ExtractLane: 0x1b,
  v128Xor: 0x51,
  i8x16Popcnt: 0x62,
  i8x16Add: 0x6e,
  i16x8ExtaddPairwiseI8x16U: 0x7d,
  i32x4ExtaddPairwiseI16x8S: 0x7e,
  i32x4ExtaddPairwiseI16x8U: 0x7f,
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

/**
 * One 32-byte step of the int8 dot product: acc += pairwise(extmul_low(a, b) + extmul_high(a, b)) for the two
 * 16-byte halves, a = row[j ..] (row pointer in local `row`), b = query[j ..]; `scratch` is a v128 local.
 */
function dotStep(row: number, query: number, j: number, acc: number, scratch: number): number[] {
  const load = (base: number, offset: number) => [
    ...get(base),
    ...get(j),
    op.i32Add,
    ...s(simd.v128Load),
    0,
    ...uleb(offset),
  ];
  const half = (offset: number) => [
    ...get(acc),
    ...load(row, offset),
    ...load(query, offset),
    ...set(scratch),
    ...get(scratch),
    ...s(simd.i16x8ExtmulLowI8x16S),
    // extmul needs a and b twice; re-load a instead of keeping both (loads hit L1)
    ...load(row, offset),
    ...get(scratch),
    ...s(simd.i16x8ExtmulHighI8x16S),
    ...s(simd.i16x8Add),
    ...s(simd.i32x4ExtaddPairwiseI16x8S),
    ...s(simd.i32x4Add),
    ...set(acc),
  ];
  return [...half(0), ...half(16)];
}

const zero = () => [...s(simd.v128Const), ...new Array<number>(16).fill(0)];
const lanesSum = (acc: number) => {
  const lane = (l: number) => [...get(acc), ...s(simd.i32x4ExtractLane), l];
  return [...lane(0), ...lane(1), op.i32Add, ...lane(2), op.i32Add, ...lane(3), op.i32Add];
};
const addTo = (local: number, n: number | number[]) => [
  ...get(local),
  ...(typeof n === "number" ? i32(n) : n),
  op.i32Add,
  ...set(local),
];
/** `for (counter = 0; counter < limit; counter++) body` */
const forLoop = (counter: number, limit: number, body: number[]) => [
  ...i32(0),
  ...set(counter),
  op.block,
  0x40,
  op.loop,
  0x40,
  ...get(counter),
  ...get(limit),
  op.i32GeU,
  op.brIf,
  1,
  ...body,
  ...addTo(counter, 1),
  op.br,
  0,
  op.end,
  op.end,
];
/** `j = 0; do { body; j += step } while (j < limit)` */
const doWhile = (j: number, step: number, limit: number, body: number[]) => [
  ...i32(0),
  ...set(j),
  op.loop,
  0x40,
  ...body,
  ...get(j),
  ...i32(step),
  op.i32Add,
  op.localTee,
  j,
  ...get(limit),
  op.i32LtU,
  op.brIf,
  0,
  op.end,
];
function functionBody(locals: number[][], code: number[]): number[] {
  const body = [...vec(locals), ...code, op.end];
  return [...uleb(body.length), ...body];
}

/** `scores(rows, query, n, stride, scales, out)`: every row in order. */
function scoresBody(): number[] {
  const [rows, query, n, stride, scales, out] = [0, 1, 2, 3, 4, 5];
  const [i, j, acc, scratch] = [6, 7, 8, 9];
  const code = forLoop(i, n, [
    ...zero(),
    ...set(acc),
    ...doWhile(j, 32, stride, dotStep(rows, query, j, acc, scratch)),
    // out[i] = f32(sum of lanes) * scales[i]; `out` and `scales` advance by 4 per row.
    ...get(out),
    ...lanesSum(acc),
    op.f32ConvertI32S,
    ...get(scales),
    op.f32Load,
    2,
    0,
    op.f32Mul,
    op.f32Store,
    2,
    0,
    ...addTo(out, 4),
    ...addTo(scales, 4),
    ...addTo(rows, [...get(stride)]),
  ]);
  return functionBody(
    [
      [2, I32],
      [2, V128],
    ],
    code,
  );
}

/** `gather(rows, query, index, m, stride, scales, out)`: out[t] = score of row index[t] (i32 row numbers). */
function gatherBody(): number[] {
  const [rows, query, index, m, stride, scales, out] = [0, 1, 2, 3, 4, 5, 6];
  const [t, j, row, r, acc, scratch] = [7, 8, 9, 10, 11, 12];
  const code = forLoop(t, m, [
    // r = index[t]; row = rows + r * stride
    ...get(index),
    op.i32Load,
    2,
    0,
    ...set(r),
    ...get(rows),
    ...get(r),
    ...get(stride),
    op.i32Mul,
    op.i32Add,
    ...set(row),
    ...zero(),
    ...set(acc),
    ...doWhile(j, 32, stride, dotStep(row, query, j, acc, scratch)),
    ...get(out),
    ...lanesSum(acc),
    op.f32ConvertI32S,
    ...get(scales),
    ...get(r),
    ...i32(4),
    op.i32Mul,
    op.i32Add,
    op.f32Load,
    2,
    0,
    op.f32Mul,
    op.f32Store,
    2,
    0,
    ...addTo(out, 4),
    ...addTo(index, 4),
  ]);
  return functionBody(
    [
      [4, I32],
      [2, V128],
    ],
    code,
  );
}

/**
 * `hamming(codes, query, n, bytes, out)`: out[i] = bits differing between code i and the query code (`bytes`
 * per code, a multiple of 16 and at most 496: per-byte counts are summed in 8-bit lanes first).
 */
function hammingBody(): number[] {
  const [codes, query, n, bytes, out] = [0, 1, 2, 3, 4];
  const [i, j, acc] = [5, 6, 7];
  const load = (base: number) => [...get(base), ...get(j), op.i32Add, ...s(simd.v128Load), 0, 0];
  const code = forLoop(i, n, [
    ...zero(),
    ...set(acc),
    ...doWhile(j, 16, bytes, [
      ...get(acc),
      ...load(codes),
      ...load(query),
      ...s(simd.v128Xor),
      ...s(simd.i8x16Popcnt),
      ...s(simd.i8x16Add),
      ...set(acc),
    ]),
    ...get(acc),
    ...s(simd.i16x8ExtaddPairwiseI8x16U),
    ...s(simd.i32x4ExtaddPairwiseI16x8U),
    ...set(acc),
    ...get(out),
    ...lanesSum(acc),
    op.i32Store,
    2,
    0,
    ...addTo(out, 4),
    ...addTo(codes, [...get(bytes)]),
  ]);
  return functionBody(
    [
      [2, I32],
      [1, V128],
    ],
    code,
  );
}

function moduleBytes(): Uint8Array {
  const fn = (params: number) => [0x60, ...vec(Array.from({ length: params }, () => [I32])), 0];
  const type = section(1, vec([fn(6), fn(7), fn(5)]));
  const func = section(3, vec([[0], [1], [2]]));
  const memory = section(5, vec([[0x00, 1]]));
  const exports = section(
    7,
    vec([
      [...name("memory"), 0x02, 0],
      [...name("scores"), 0x00, 0],
      [...name("gather"), 0x00, 1],
      [...name("hamming"), 0x00, 2],
    ]),
  );
  const code = section(10, vec([scoresBody(), gatherBody(), hammingBody()]));
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
  gather(rows: number, query: number, index: number, m: number, stride: number, scales: number, out: number): void;
  hamming(codes: number, query: number, n: number, bytes: number, out: number): void;
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

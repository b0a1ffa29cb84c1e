/**
 * The dense scan's inner loop as a tiny WebAssembly module with 128-bit SIMD, assembled here from its opcodes
 * (no toolchain, no dependency). Plain JavaScript does about one multiply-add per cycle; this does 16 int8
 * multiply-adds in a handful of instructions, which is what makes an exact scan of 100k vectors a
 * millisecond-scale job (docs/benchmarks.md). Node >= 16.4 runs WebAssembly SIMD without flags.
 *
 * Exported: `memory`, and `scores(rows, query, n, stride, scales, out)`: for each of `n` int8 rows of
 * `stride` bytes (a multiple of 32) starting at byte `rows`, `out[i] = f32(dot(row_i, query)) * scales[i]`;
 * `gather` the same for a list of row numbers; `binaryScores` a dot-product estimate from binary codes;
 * `select` the rows scoring at least a threshold.
 * Values must lie in [-127, 127]: two products then fit an i16 lane (2 x 127^2 < 2^15).
 */

const SIMD = 0xfd;
const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
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
  f32Ge: 0x60,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Shl: 0x74,
  f32Add: 0x92,
  f32Sub: 0x93,
  f32Mul: 0x94,
  f32ConvertI32S: 0xb2,
} as const;
/** SIMD opcodes (after the 0xfd prefix, LEB128-encoded). */
const simd = {
  v128Load: 0x00,
  v128Store: 0x0b,
  v128Const: 0x0c,
  i8x16Swizzle: 0x0e,
  f32x4Splat: 0x13,
  i32x4ExtractLane: 0x1b,
  v128And: 0x4e,
  i8x16ShrU: 0x6d,
  i8x16Add: 0x6e,
  i32x4ExtaddPairwiseI16x8S: 0x7e,
  i16x8ExtendLowI8x16U: 0x89,
  i16x8ExtendHighI8x16U: 0x8a,
  i16x8Add: 0x8e,
  i16x8ExtmulLowI8x16S: 0x9c,
  i16x8ExtmulHighI8x16S: 0x9d,
  i32x4ExtendLowI16x8U: 0xa9,
  i32x4ExtendHighI16x8U: 0xaa,
  i32x4Add: 0xae,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4ConvertI32x4U: 0xfb,
} as const;
const I32 = 0x7f;
const F32 = 0x7d;
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
 * `binaryScores(codes, tables, blocks, bytes, norms, counts, out, a, b, c)`: the asymmetric estimate of each
 * row's dot product from its binary code and the query quantised to 4 bits per component (u, 0..15).
 * Codes are transposed in blocks of 16 rows: `bytes` x 16 bytes per block, code byte k of the block's row i at
 * 16 k + i. For every code byte k, `tables` holds two 16-byte tables at 32 k (low nibble: components 8k .. 8k+3)
 * and 32 k + 16 (high nibble: 8k+4 .. 8k+7): entry m is the sum of u over the components whose bit is set in m.
 * One swizzle looks a nibble up for 16 rows at once (the "fast scan" of product quantisation), so
 * S = the sum of u where the row's code is set, and out[i] = norms[i] * (a * S + b * counts[i] - c) (f32;
 * norms, counts and out hold blocks x 16 entries). `bytes` is a multiple of 16, at most 496.
 */
function binaryScoresBody(): number[] {
  const [codes, tables, blocks, bytes, norms, counts, out, a, b, c] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [blk, k, ca, ta] = [10, 11, 12, 13];
  const [accLo, accHi, mask, sum, va, vb, vc] = [14, 15, 16, 17, 18, 19, 20];
  const load = (base: number, offset: number) => [...get(base), ...s(simd.v128Load), 0, ...uleb(offset)];
  const lookup = (tableOffset: number, codeOffset: number, high: boolean) => [
    ...load(ta, tableOffset),
    ...load(ca, codeOffset),
    ...(high ? [...i32(4), ...s(simd.i8x16ShrU)] : [...get(mask), ...s(simd.v128And)]),
    ...s(simd.i8x16Swizzle),
  ];
  const quarter = (q: number) => [
    ...get(out),
    ...load(norms, 16 * q),
    ...get(q < 2 ? accLo : accHi),
    ...s(q % 2 === 0 ? simd.i32x4ExtendLowI16x8U : simd.i32x4ExtendHighI16x8U),
    ...s(simd.f32x4ConvertI32x4U),
    ...get(va),
    ...s(simd.f32x4Mul),
    ...load(counts, 16 * q),
    ...get(vb),
    ...s(simd.f32x4Mul),
    ...s(simd.f32x4Add),
    ...get(vc),
    ...s(simd.f32x4Sub),
    ...s(simd.f32x4Mul),
    ...s(simd.v128Store),
    0,
    ...uleb(16 * q),
  ];
  const code = [
    ...s(simd.v128Const),
    ...new Array<number>(16).fill(0x0f),
    ...set(mask),
    ...get(a),
    ...s(simd.f32x4Splat),
    ...set(va),
    ...get(b),
    ...s(simd.f32x4Splat),
    ...set(vb),
    ...get(c),
    ...s(simd.f32x4Splat),
    ...set(vc),
    ...forLoop(blk, blocks, [
      ...zero(),
      ...set(accLo),
      ...zero(),
      ...set(accHi),
      // Two code bytes a step: four lookups of at most 4 x 15 add up in 8-bit lanes, then widen to 16 bits.
      ...doWhile(k, 2, bytes, [
        ...get(codes),
        ...get(k),
        ...i32(4),
        op.i32Shl,
        op.i32Add,
        ...set(ca),
        ...get(tables),
        ...get(k),
        ...i32(5),
        op.i32Shl,
        op.i32Add,
        ...set(ta),
        ...lookup(0, 0, false),
        ...lookup(16, 0, true),
        ...s(simd.i8x16Add),
        ...lookup(32, 16, false),
        ...s(simd.i8x16Add),
        ...lookup(48, 16, true),
        ...s(simd.i8x16Add),
        ...set(sum),
        ...get(accLo),
        ...get(sum),
        ...s(simd.i16x8ExtendLowI8x16U),
        ...s(simd.i16x8Add),
        ...set(accLo),
        ...get(accHi),
        ...get(sum),
        ...s(simd.i16x8ExtendHighI8x16U),
        ...s(simd.i16x8Add),
        ...set(accHi),
      ]),
      ...quarter(0),
      ...quarter(1),
      ...quarter(2),
      ...quarter(3),
      ...addTo(out, 64),
      ...addTo(norms, 64),
      ...addTo(counts, 64),
      ...addTo(codes, [...get(bytes), ...i32(4), op.i32Shl]),
    ]),
  ];
  return functionBody(
    [
      [4, I32],
      [7, V128],
    ],
    code,
  );
}

/**
 * `select(scores, n, threshold, index, max) -> kept`: the numbers of the rows whose f32 score is at least
 * `threshold`, in row order, written as i32 to `index`, at most `max` of them.
 */
function selectBody(): number[] {
  const [scores, n, threshold, index, max] = [0, 1, 2, 3, 4];
  const [r, kept] = [5, 6];
  const code = [
    ...forLoop(r, n, [
      ...get(scores),
      op.f32Load,
      2,
      0,
      ...get(threshold),
      op.f32Ge,
      ...get(kept),
      ...get(max),
      op.i32LtU,
      op.i32And,
      op.if,
      0x40,
      ...get(index),
      ...get(kept),
      ...i32(2),
      op.i32Shl,
      op.i32Add,
      ...get(r),
      op.i32Store,
      2,
      0,
      ...addTo(kept, 1),
      op.end,
      ...addTo(scores, 4),
    ]),
    ...get(kept),
  ];
  return functionBody([[2, I32]], code);
}

function moduleBytes(): Uint8Array {
  const fn = (params: number, floats = 0) => [
    0x60,
    ...vec([...Array.from({ length: params }, () => [I32]), ...Array.from({ length: floats }, () => [F32])]),
    0,
  ];
  const type = section(
    1,
    vec([fn(6), fn(7), fn(7, 3), [0x60, ...vec([[I32], [I32], [F32], [I32], [I32]]), ...vec([[I32]])]]),
  );
  const func = section(3, vec([[0], [1], [2], [3]]));
  const memory = section(5, vec([[0x00, 1]]));
  const exports = section(
    7,
    vec([
      [...name("memory"), 0x02, 0],
      [...name("scores"), 0x00, 0],
      [...name("gather"), 0x00, 1],
      [...name("binaryScores"), 0x00, 2],
      [...name("select"), 0x00, 3],
    ]),
  );
  const code = section(10, vec([scoresBody(), gatherBody(), binaryScoresBody(), selectBody()]));
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
  binaryScores(
    codes: number,
    tables: number,
    blocks: number,
    bytes: number,
    norms: number,
    counts: number,
    out: number,
    a: number,
    b: number,
    c: number,
  ): void;
  select(scores: number, n: number, threshold: number, index: number, max: number): number;
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

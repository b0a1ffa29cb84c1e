import { type Analyzer, bm25Scores, checkAnalyzerParams, type TermVector, termVector } from "./bm25.js";
import {
  collectionNotLoaded,
  invalidParameter,
  invalidParameterValue,
  MilvusError,
  notSupported,
  unexpected,
} from "./errors.js";
import {
  compareStrings,
  ExprError,
  type ExprField,
  type ExprSchema,
  matches,
  type Plan,
  parseFilter,
  type Scalar,
  type TemplateValue,
} from "./expr.js";
import type {
  KeyValuePair,
  WireCollectionSchema,
  WireFieldData,
  WireFieldSchema,
  WireScalarField,
  WireTemplateArray,
  WireTemplateValue,
} from "./wire.js";

/** Milvus's maximum query/search window (offset + limit). */
export const MAX_RESULT_WINDOW = 16384;

const INTEGER_TYPES = new Set(["Int8", "Int16", "Int32", "Int64"]);
const SCALAR_TYPES = new Set(["Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double", "VarChar", "String"]);
const VECTOR_TYPES = new Set([
  "FloatVector",
  "BinaryVector",
  "Float16Vector",
  "BFloat16Vector",
  "SparseFloatVector",
  "Int8Vector",
]);
const SUPPORTED_TYPES = new Set([...SCALAR_TYPES, "Array", "JSON", "FloatVector", "SparseFloatVector"]);
const DENSE_INDEXES = new Set(["AUTOINDEX", "FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "DISKANN", "SCANN"]);
const SPARSE_INDEXES = new Set(["AUTOINDEX", "SPARSE_INVERTED_INDEX", "SPARSE_WAND"]);
const SCALAR_INDEXES = new Set(["AUTOINDEX", "INVERTED", "STL_SORT", "Trie", "BITMAP"]);

export type Metric = "COSINE" | "IP" | "L2" | "BM25";
export type SparseVector = Map<number, number>;
export type Cell = null | Scalar | Scalar[] | Float32Array | SparseVector | { json: unknown };

export interface FieldSpec extends ExprField {
  fieldID: number;
  isPrimaryKey: boolean;
  autoID: boolean;
  isFunctionOutput: boolean;
  isDynamic: boolean;
  dim?: number;
  maxLength?: number;
  maxCapacity?: number;
  defaultValue?: Scalar;
  /** For a BM25 function output: the VarChar field it is computed from. */
  bm25Input?: string;
  /** For a VarChar field with `enable_analyzer`: how its text is tokenised. */
  analyzer?: Analyzer;
}

export interface IndexSpec {
  indexName: string;
  indexID: string;
  fieldName: string;
  indexType: string;
  metricType: string;
  params: KeyValuePair[];
}

interface Row {
  seq: number;
  cells: Map<string, Cell>;
  terms: Map<string, TermVector>;
}

export interface Hit {
  row: Row;
  score: number;
}

function typeParam(field: WireFieldSchema, key: string): string | undefined {
  return field.type_params.find((p) => p.key === key)?.value;
}

function positiveInt(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw invalidParameter(`invalid ${what}: ${value}`);
  return n;
}

function scalarDefault(field: WireFieldSchema): Scalar | undefined {
  const dv = field.default_value;
  if (!dv?.data) return undefined;
  const raw = dv[dv.data];
  if (dv.data === "long_data") return BigInt(raw as string);
  return raw as Scalar;
}

export function decodeTemplateValue(value: WireTemplateValue): TemplateValue {
  switch (value.val) {
    case "bool_val":
      return value.bool_val ?? false;
    case "int64_val":
      return BigInt(value.int64_val ?? "0");
    case "float_val":
      return value.float_val ?? 0;
    case "string_val":
      return value.string_val ?? "";
    case "array_val":
      return templateArray(value.array_val ?? {});
    default:
      throw invalidParameter("expression template value is empty");
  }
}

function templateArray(array: WireTemplateArray): TemplateValue[] {
  switch (array.data) {
    case "bool_data":
      return array.bool_data?.data ?? [];
    case "long_data":
      return (array.long_data?.data ?? []).map((v) => BigInt(v));
    case "double_data":
      return array.double_data?.data ?? [];
    case "string_data":
      return array.string_data?.data ?? [];
    case "array_data":
      return (array.array_data?.data ?? []).map(templateArray);
    default:
      throw notSupported("JSON expression template values");
  }
}

export function templatesOf(values: Record<string, WireTemplateValue> | undefined): Map<string, TemplateValue> {
  const map = new Map<string, TemplateValue>();
  for (const [name, value] of Object.entries(values ?? {})) map.set(name, decodeTemplateValue(value));
  return map;
}

/** Parse a filter for this collection; parser errors become the proxy's "failed to create query plan" status. */
function planFor(expr: string, schema: ExprSchema, templates: Map<string, TemplateValue>, task: string): Plan {
  try {
    return parseFilter(expr, schema, { templates });
  } catch (error) {
    if (error instanceof ExprError) throw invalidParameter(`failed to create ${task} plan: ${error.message}`);
    throw error;
  }
}

export class CollectionState implements ExprSchema {
  readonly fields: FieldSpec[] = [];
  private readonly byName = new Map<string, FieldSpec>();
  readonly pk: FieldSpec;
  readonly indexes = new Map<string, IndexSpec>();
  readonly properties = new Map<string, string>();
  loaded = false;
  readonly hasDynamicField: boolean;
  private rows: Row[] = [];
  private nextSeq = 1;
  private nextAutoId = 1n;
  readonly createdMs = Date.now();
  updatedMs = Date.now();

  constructor(
    readonly id: string,
    readonly database: string,
    readonly name: string,
    readonly schema: WireCollectionSchema,
    readonly consistencyLevel: string,
    properties: KeyValuePair[],
    private readonly nextIndexId: () => string,
  ) {
    for (const p of properties) this.properties.set(p.key, p.value);
    this.hasDynamicField = schema.enable_dynamic_field;
    if (schema.struct_array_fields.length > 0) throw notSupported("struct array fields");
    let fieldId = 100;
    const pks: FieldSpec[] = [];
    for (const wire of schema.fields) {
      const spec = this.fieldSpec(wire, fieldId++);
      wire.fieldID = String(spec.fieldID);
      this.fields.push(spec);
      if (this.byName.has(spec.name)) {
        throw invalidParameter(`duplicated field name ${spec.name} found`);
      }
      this.byName.set(spec.name, spec);
      if (spec.isPrimaryKey) pks.push(spec);
    }
    if (pks.length !== 1) {
      throw invalidParameter(pks.length === 0 ? "primary key is not specified" : "there are more than one primary key");
    }
    this.pk = pks[0]!;
    if (!["Int64", "VarChar"].includes(this.pk.dataType)) {
      throw invalidParameter("the data type of primary key should be Int64 or VarChar");
    }
    if (this.hasDynamicField) {
      const meta: FieldSpec = {
        name: "$meta",
        dataType: "JSON",
        elementType: "None",
        nullable: false,
        fieldID: fieldId++,
        isPrimaryKey: false,
        autoID: false,
        isFunctionOutput: false,
        isDynamic: true,
      };
      this.fields.push(meta);
      this.byName.set(meta.name, meta);
    }
    this.bindFunctions(fieldId);
    if (!this.fields.some((f) => VECTOR_TYPES.has(f.dataType))) {
      throw invalidParameter("schema does not contain vector field");
    }
  }

  private fieldSpec(wire: WireFieldSchema, fieldID: number): FieldSpec {
    const dataType = wire.data_type;
    if (!SUPPORTED_TYPES.has(dataType)) throw notSupported(`field type ${dataType} (field ${wire.name})`);
    const spec: FieldSpec = {
      name: wire.name,
      dataType,
      elementType: wire.element_type,
      nullable: wire.nullable,
      fieldID,
      isPrimaryKey: wire.is_primary_key,
      autoID: wire.autoID,
      isFunctionOutput: wire.is_function_output,
      isDynamic: wire.is_dynamic,
    };
    if (dataType === "FloatVector") {
      spec.dim = positiveInt(typeParam(wire, "dim"), "dim");
      if (spec.dim === undefined)
        throw invalidParameter(`dimension is not defined in field type params of ${wire.name}`);
    }
    if (dataType === "VarChar" || (dataType === "Array" && wire.element_type === "VarChar")) {
      spec.maxLength = positiveInt(typeParam(wire, "max_length"), "max_length");
      if (spec.maxLength === undefined) {
        throw invalidParameter(`type param(max_length) should be specified for the field(${wire.name})`);
      }
    }
    if (dataType === "Array") {
      spec.maxCapacity = positiveInt(typeParam(wire, "max_capacity"), "max_capacity");
      if (spec.maxCapacity === undefined) {
        throw invalidParameter(`type param(max_capacity) should be specified for array field ${wire.name}`);
      }
      if (!SCALAR_TYPES.has(wire.element_type)) {
        throw notSupported(`array element type ${wire.element_type} (field ${wire.name})`);
      }
    }
    if (typeParam(wire, "enable_analyzer") === "true") {
      const checked = checkAnalyzerParams(typeParam(wire, "analyzer_params"));
      if ("problem" in checked) throw notSupported(checked.problem);
      spec.analyzer = checked.analyzer;
    }
    spec.defaultValue = scalarDefault(wire);
    return spec;
  }

  private bindFunctions(firstFunctionId: number): void {
    let functionId = firstFunctionId;
    for (const fn of this.schema.functions) {
      fn.id = String(functionId++);
      if (fn.type !== "BM25") throw notSupported(`function type ${fn.type} (function ${fn.name})`);
      const [input, ...moreInputs] = fn.input_field_names.map((n) => this.byName.get(n));
      const [output, ...moreOutputs] = fn.output_field_names.map((n) => this.byName.get(n));
      if (!input || !output || moreInputs.length > 0 || moreOutputs.length > 0) {
        throw invalidParameter(`BM25 function ${fn.name} needs exactly one existing input and one output field`);
      }
      const inputWire = this.schema.fields.find((f) => f.name === input.name)!;
      if (input.dataType !== "VarChar" || typeParam(inputWire, "enable_analyzer") !== "true") {
        throw invalidParameter(`BM25 function input field must set enable_analyzer to true`);
      }
      if (output.dataType !== "SparseFloatVector") {
        throw invalidParameter(`BM25 function output field must be a SparseFloatVector field`);
      }
      output.bm25Input = input.name;
      output.isFunctionOutput = true;
      const outputWire = this.schema.fields.find((f) => f.name === output.name)!;
      outputWire.is_function_output = true;
      fn.input_field_ids = [String(input.fieldID)];
      fn.output_field_ids = [String(output.fieldID)];
    }
    for (const f of this.fields) {
      if (f.isFunctionOutput && f.bm25Input === undefined) {
        throw invalidParameter(`field ${f.name} is marked as function output but no function produces it`);
      }
    }
  }

  field(name: string): FieldSpec | undefined {
    const f = this.byName.get(name);
    return f?.isDynamic ? undefined : f;
  }

  get rowCount(): number {
    return this.rows.length;
  }

  // ------------------------------------------------------------------------------------- indexes

  createIndex(fieldName: string, indexName: string, params: KeyValuePair[]): void {
    const field = this.byName.get(fieldName);
    if (!field || field.isDynamic) {
      throw invalidParameter(`cannot create index on non-exist field: ${fieldName}`);
    }
    const get = (k: string) => params.find((p) => p.key === k)?.value;
    const indexType = get("index_type") ?? "AUTOINDEX";
    const metricType = (get("metric_type") ?? "").toUpperCase();
    const name = indexName || fieldName;
    if (VECTOR_TYPES.has(field.dataType)) {
      const allowed = field.dataType === "SparseFloatVector" ? SPARSE_INDEXES : DENSE_INDEXES;
      if (!allowed.has(indexType)) throw invalidParameter(`invalid index type: ${indexType}`);
      const metrics =
        field.dataType === "SparseFloatVector" ? (field.bm25Input ? ["BM25"] : ["IP"]) : ["COSINE", "IP", "L2"];
      if (!metrics.includes(metricType)) {
        throw invalidParameter(
          `metric type ${metricType || "(empty)"} not found or not supported, supported: [${metrics.join(" ")}]`,
        );
      }
    } else if (!SCALAR_INDEXES.has(indexType)) {
      throw invalidParameter(`invalid index type: ${indexType}`);
    }
    const existing = this.indexes.get(fieldName);
    if (existing) {
      const same =
        existing.indexType === indexType && existing.metricType === metricType && existing.indexName === name;
      if (same) return;
      throw invalidParameter("CreateIndex failed: at most one distinct index is allowed per field");
    }
    const extra = params.filter((p) => !["index_type", "metric_type"].includes(p.key));
    this.indexes.set(fieldName, {
      indexName: name,
      indexID: this.nextIndexId(),
      fieldName,
      indexType,
      metricType,
      params: [
        { key: "index_type", value: indexType },
        ...(metricType ? [{ key: "metric_type", value: metricType }] : []),
        ...extra,
      ],
    });
  }

  load(): void {
    const missing = this.fields.filter((f) => VECTOR_TYPES.has(f.dataType) && !this.indexes.has(f.name));
    if (missing.length > 0) {
      throw new MilvusError(
        700,
        "IndexNotExist",
        `there is no vector index on field: [${missing.map((f) => f.name).join(" ")}], please create index firstly: index not found[collection=${this.name}]`,
      );
    }
    this.loaded = true;
  }

  private requireLoaded(): void {
    if (!this.loaded) throw collectionNotLoaded(this.id);
  }

  // -------------------------------------------------------------------------------------- writes

  /** Insert appends (duplicates are kept, as in Milvus); upsert first removes every row with the same key. */
  write(fieldsData: WireFieldData[], numRows: number, upsert: boolean): Scalar[] {
    if (numRows <= 0) throw invalidParameter("num_rows should be greater than 0");
    const columns = new Map<string, Cell[]>();
    for (const data of fieldsData) {
      const field = this.byName.get(data.field_name);
      if (!field) {
        throw invalidParameter(
          `Attempt to insert an unexpected field \`${data.field_name}\` to collection without enabling dynamic field`,
        );
      }
      if (field.isFunctionOutput) {
        throw invalidParameter(`attempt to insert data into function output field ${field.name}`);
      }
      if (field.isPrimaryKey && field.autoID && !upsert) {
        throw invalidParameter(`the primary key field ${field.name} is auto id, do not insert it`);
      }
      columns.set(field.name, this.decodeColumn(field, data, numRows));
    }
    for (const field of this.fields) {
      if (columns.has(field.name) || field.isFunctionOutput) continue;
      if (field.isPrimaryKey && field.autoID && !upsert) {
        columns.set(
          field.name,
          Array.from({ length: numRows }, () => this.nextAutoId++),
        );
        continue;
      }
      if (field.nullable || field.defaultValue !== undefined) {
        columns.set(
          field.name,
          Array.from({ length: numRows }, () => field.defaultValue ?? null),
        );
        continue;
      }
      if (field.isDynamic) {
        columns.set(
          field.name,
          Array.from({ length: numRows }, () => ({ json: {} })),
        );
        continue;
      }
      throw invalidParameter(
        `Insert missed an field \`${field.name}\` to collection without set nullable==true or set default_value`,
      );
    }
    const newRows: Row[] = [];
    for (let i = 0; i < numRows; i++) {
      const cells = new Map<string, Cell>();
      for (const [name, values] of columns) cells.set(name, values[i]!);
      const terms = new Map<string, TermVector>();
      for (const f of this.fields) {
        if (f.bm25Input === undefined) continue;
        const text = cells.get(f.bm25Input);
        if (typeof text === "string") terms.set(f.name, termVector(text, this.analyzerOf(f)));
      }
      newRows.push({ seq: this.nextSeq++, cells, terms });
    }
    const keys = newRows.map((r) => r.cells.get(this.pk.name) as Scalar);
    if (upsert) {
      const replaced = new Set(keys.map(pkKey));
      this.rows = this.rows.filter((r) => !replaced.has(pkKey(r.cells.get(this.pk.name) as Scalar)));
    }
    this.rows.push(...newRows);
    return keys;
  }

  private decodeColumn(field: FieldSpec, data: WireFieldData, numRows: number): Cell[] {
    if (field.dataType !== data.type) {
      throw invalidParameter(
        `field ${field.name}: data type ${data.type} does not match schema type ${field.dataType}`,
      );
    }
    let values: Cell[];
    if (field.dataType === "FloatVector") values = this.decodeFloatVectors(field, data, numRows);
    else if (field.dataType === "SparseFloatVector") {
      values = (data.vectors?.sparse_float_vector?.contents ?? []).map(decodeSparse);
    } else {
      values = decodeScalars(field, data.scalars ?? {});
    }
    const valid = data.valid_data;
    if (valid.length > 0) {
      if (!field.nullable && field.defaultValue === undefined) {
        throw invalidParameter(`the field ${field.name} is not nullable but valid_data was sent`);
      }
      if (valid.length !== numRows) {
        throw invalidParameterValue(numRows, valid.length, `the length of valid_data of field(${field.name}) is wrong`);
      }
      const present = valid.filter(Boolean).length;
      if (values.length !== present) {
        throw invalidParameterValue(present, values.length, "the length of field is wrong");
      }
      let next = 0;
      values = valid.map((v) => (v ? values[next++]! : (field.defaultValue ?? null)));
    }
    if (values.length !== numRows) {
      throw invalidParameterValue(
        numRows,
        values.length,
        `the num_rows (${values.length}) of field (${field.name}) is not equal to passed num_rows (${numRows})`,
      );
    }
    this.checkLimits(field, values);
    return values;
  }

  private decodeFloatVectors(field: FieldSpec, data: WireFieldData, numRows: number): Cell[] {
    const flat = data.vectors?.float_vector?.data ?? [];
    const dim = field.dim!;
    if (flat.length % dim !== 0) {
      throw unexpected(`the length(${flat.length}) of float data should divide the dim(${dim})`);
    }
    const sentDim = Number(data.vectors?.dim ?? 0);
    if (sentDim !== dim) {
      throw invalidParameterValue(
        dim,
        sentDim,
        `the dim (${sentDim}) of field data(${field.name}) is not equal to schema dim (${dim})`,
      );
    }
    const rows = flat.length / dim;
    if (rows !== numRows) {
      throw invalidParameterValue(
        numRows,
        rows,
        `the num_rows (${rows}) of field (${field.name}) is not equal to passed num_rows (${numRows})`,
      );
    }
    return Array.from({ length: rows }, (_, i) => Float32Array.from(flat.slice(i * dim, (i + 1) * dim)));
  }

  private checkLimits(field: FieldSpec, values: Cell[]): void {
    values.forEach((value, row) => {
      if (field.dataType === "VarChar" && typeof value === "string") {
        const length = Buffer.byteLength(value, "utf8");
        if (length > field.maxLength!) {
          throw invalidParameter(
            `length of varchar field ${field.name} exceeds max length, row number: ${row}, length: ${length}, max length: ${field.maxLength}`,
          );
        }
      }
      if (field.dataType === "Array" && Array.isArray(value)) {
        if (value.length > field.maxCapacity!) {
          throw invalidParameter(
            `array length exceeds max capacity, array length ${value.length}, max capacity ${field.maxCapacity}`,
          );
        }
        for (const element of value) {
          if (typeof element === "string" && Buffer.byteLength(element, "utf8") > field.maxLength!) {
            throw invalidParameter(
              `length of array element exceeds max length, row number: ${row}, array length: ${Buffer.byteLength(element, "utf8")}, max length: ${field.maxLength}`,
            );
          }
        }
      }
    });
  }

  /** Delete by expression: every row whose key matches a visible matching row is removed. */
  delete(expr: string, templates: Map<string, TemplateValue>): Scalar[] {
    if (expr.trim() === "") throw invalidParameter("expr cannot be empty");
    const plan = planFor(expr, this, templates, "delete");
    if (!isPrimaryKeyLookup(plan, this.pk)) this.requireLoaded();
    const keys = this.visible(plan).map((r) => r.cells.get(this.pk.name) as Scalar);
    const doomed = new Set(keys.map(pkKey));
    this.rows = this.rows.filter((r) => !doomed.has(pkKey(r.cells.get(this.pk.name) as Scalar)));
    return keys;
  }

  // --------------------------------------------------------------------------------------- reads

  /** Rows that pass the filter, one per primary key (the newest), as Milvus's reduce keeps them. */
  private visible(plan: Plan): Row[] {
    const newest = new Map<string, Row>();
    for (const row of this.rows) {
      if (!matches(plan, (name) => row.cells.get(name))) continue;
      const key = pkKey(row.cells.get(this.pk.name) as Scalar);
      const seen = newest.get(key);
      if (!seen || seen.seq < row.seq) newest.set(key, row);
    }
    return [...newest.values()].sort((a, b) => a.seq - b.seq);
  }

  comparePk = (a: Row, b: Row): number => {
    const x = a.cells.get(this.pk.name) as Scalar;
    const y = b.cells.get(this.pk.name) as Scalar;
    if (typeof x === "string" && typeof y === "string") return compareStrings(x, y);
    return x < y ? -1 : x > y ? 1 : 0;
  };

  /** output_fields → the fields to return; `*` skips what cannot be retrieved (BM25 outputs). */
  resolveOutput(requested: readonly string[], includePk: boolean): FieldSpec[] {
    const out = new Map<string, FieldSpec>();
    let pkRequested = includePk;
    for (const raw of requested) {
      const name = raw.trim();
      if (name === "*") {
        pkRequested = true;
        for (const f of this.fields) if (!f.isFunctionOutput) out.set(f.name, f);
        continue;
      }
      const field = this.byName.get(name);
      if (!field) {
        if (this.hasDynamicField) throw notSupported(`dynamic output field ${name}`);
        throw unexpected(`field ${name} not exist`);
      }
      if (field.isFunctionOutput) throw unexpected(`not allowed to retrieve raw data of field ${name}`);
      if (field.isPrimaryKey) pkRequested = true;
      out.set(field.name, field);
    }
    if (pkRequested && !out.has(this.pk.name)) out.set(this.pk.name, this.pk);
    return [...out.values()];
  }

  query(
    expr: string,
    templates: Map<string, TemplateValue>,
    outputFields: readonly string[],
    queryParams: KeyValuePair[],
  ): { count?: number; rows: Row[]; fields: FieldSpec[] } {
    this.requireLoaded();
    const get = (k: string) => queryParams.find((p) => p.key === k)?.value;
    const limitText = get("limit");
    let limit: number | undefined;
    let offset = 0;
    if (limitText !== undefined) {
      limit = Number.parseInt(limitText, 10);
      if (!Number.isFinite(limit)) throw unexpected(`limit [${limitText}] is invalid`);
      const offsetText = get("offset");
      if (offsetText !== undefined) {
        offset = Number.parseInt(offsetText, 10);
        if (!Number.isFinite(offset)) throw unexpected(`offset [${offsetText}] is invalid`);
      }
      checkWindow(offset, limit);
    }
    const isCount = outputFields.length === 1 && outputFields[0]!.trim().toLowerCase() === "count(*)";
    const plan = planFor(expr, this, templates, "query");
    if (isCount) {
      if (limit !== undefined) throw invalidParameter("count entities with pagination is not allowed");
      return { count: this.rows.filter((r) => matches(plan, (n) => r.cells.get(n))).length, rows: [], fields: [] };
    }
    if (outputFields.some((f) => f.trim().toLowerCase() === "count(*)")) {
      throw notSupported("count(*) together with other output fields");
    }
    const fields = this.resolveOutput(outputFields, true);
    if (plan.kind === "true" && limit === undefined) {
      throw invalidParameter("empty expression should be used with limit");
    }
    let rows = this.visible(plan);
    if (limit !== undefined) rows = rows.sort(this.comparePk).slice(offset, offset + limit);
    return { rows, fields };
  }

  /** The filter plan plus candidate rows for a search, or the error Milvus would give. */
  searchCandidates(expr: string, templates: Map<string, TemplateValue>): Row[] {
    this.requireLoaded();
    return this.visible(planFor(expr, this, templates, "search"));
  }

  /** The analyzer of the text a BM25 output field is computed from. */
  private analyzerOf(field: FieldSpec): Analyzer {
    return (field.bm25Input ? this.byName.get(field.bm25Input)?.analyzer : undefined) ?? "standard";
  }

  /** BM25 scores for every candidate that shares a term with the query; statistics come from all rows. */
  bm25(field: FieldSpec, query: string, candidates: Row[]): Hit[] {
    const docs: TermVector[] = [];
    const index = new Map<Row, number>();
    for (const row of this.rows) {
      const terms = row.terms.get(field.name);
      if (!terms) continue;
      index.set(row, docs.length);
      docs.push(terms);
    }
    const scores = bm25Scores(query, docs, this.analyzerOf(field));
    const hits: Hit[] = [];
    for (const row of candidates) {
      const score = scores.get(index.get(row) ?? -1);
      if (score !== undefined) hits.push({ row, score });
    }
    return hits;
  }

  rowByKey(key: Scalar): Row | undefined {
    const wanted = pkKey(key);
    let found: Row | undefined;
    for (const row of this.rows) {
      if (pkKey(row.cells.get(this.pk.name) as Scalar) === wanted && (!found || found.seq < row.seq)) found = row;
    }
    return found;
  }

  alterProperties(set: KeyValuePair[], remove: string[]): void {
    for (const p of set) this.properties.set(p.key, p.value);
    for (const k of remove) this.properties.delete(k);
    this.updatedMs = Date.now();
  }
}

export function checkWindow(offset: number, limit: number): void {
  if (offset < 0)
    throw unexpected(`invalid max query result window, offset [${offset}] is invalid, should be gte than 0`);
  if (limit <= 0) {
    throw unexpected(`invalid max query result window, limit [${limit}] is invalid, should be greater than 0`);
  }
  const depth = offset + limit;
  if (depth > MAX_RESULT_WINDOW) {
    throw unexpected(
      `invalid max query result window, (offset+limit) should be in range [1, ${MAX_RESULT_WINDOW}], but got ${depth}`,
    );
  }
}

function pkKey(value: Scalar): string {
  return typeof value === "string" ? `s:${value}` : `n:${String(value)}`;
}

/** `pk in [...]` / `pk == v`: Milvus deletes these without a query, so the collection need not be loaded. */
function isPrimaryKeyLookup(plan: Plan, pk: FieldSpec): boolean {
  if (plan.kind === "term") return plan.field.name === pk.name && !plan.not;
  if (plan.kind === "compare" && plan.op === "EQ") {
    const sides = [plan.left, plan.right];
    return sides.some((s) => s.kind === "column" && s.field.name === pk.name) && sides.some((s) => s.kind === "value");
  }
  return false;
}

function decodeSparse(bytes: Buffer): SparseVector {
  const vector: SparseVector = new Map();
  for (let i = 0; i + 8 <= bytes.length; i += 8) vector.set(bytes.readUInt32LE(i), bytes.readFloatLE(i + 4));
  return vector;
}

export function encodeSparse(vector: SparseVector): Buffer {
  const entries = [...vector.entries()].sort((a, b) => a[0] - b[0]);
  const out = Buffer.alloc(entries.length * 8);
  entries.forEach(([index, value], i) => {
    out.writeUInt32LE(index, i * 8);
    out.writeFloatLE(value, i * 8 + 4);
  });
  return out;
}

const SCALAR_KEYS: Record<string, string> = {
  Bool: "bool_data",
  Int8: "int_data",
  Int16: "int_data",
  Int32: "int_data",
  Int64: "long_data",
  Float: "float_data",
  Double: "double_data",
  VarChar: "string_data",
  String: "string_data",
  JSON: "json_data",
  Array: "array_data",
};

export function scalarKey(type: string): string {
  const key = SCALAR_KEYS[type];
  if (!key) throw notSupported(`data type ${type}`);
  return key;
}

function scalarValues(type: string, scalars: WireScalarField, fieldName: string): Scalar[] {
  const key = scalarKey(type);
  if (scalars.data !== undefined && scalars.data !== key) {
    throw invalidParameter(`field ${fieldName}: expected ${key} for ${type} but got ${scalars.data}`);
  }
  const holder = scalars[key] as { data: unknown[] } | undefined;
  const raw = holder?.data ?? [];
  if (type === "Int64") return (raw as string[]).map((v) => BigInt(v));
  return raw as Scalar[];
}

function decodeScalars(field: FieldSpec, scalars: WireScalarField): Cell[] {
  if (field.dataType === "JSON") {
    return (scalars.json_data?.data ?? []).map((b) => ({ json: b.length ? JSON.parse(b.toString("utf8")) : null }));
  }
  if (field.dataType === "Array") {
    if (scalars.data !== undefined && scalars.data !== "array_data") {
      throw invalidParameter(`field ${field.name}: expected array_data but got ${scalars.data}`);
    }
    return (scalars.array_data?.data ?? []).map((element) => scalarValues(field.elementType, element, field.name));
  }
  return scalarValues(field.dataType, scalars, field.name);
}

/** FieldData for the given rows, in row order. */
export function fieldData(field: FieldSpec, rows: readonly Row[]): Record<string, unknown> {
  const cells = rows.map((r) => r.cells.get(field.name) ?? null);
  const valid = field.nullable ? cells.map((c) => c !== null) : [];
  const base = {
    type: field.dataType,
    field_name: field.name,
    field_id: String(field.fieldID),
    is_dynamic: field.isDynamic,
    valid_data: valid,
  };
  if (field.dataType === "FloatVector") {
    const flat: number[] = [];
    for (const c of cells) flat.push(...(c as Float32Array));
    return { ...base, vectors: { dim: String(field.dim), float_vector: { data: flat } } };
  }
  if (field.dataType === "SparseFloatVector") {
    const vectors = cells.map((c) => (c as SparseVector | null) ?? new Map<number, number>());
    const dim = Math.max(0, ...vectors.flatMap((v) => [...v.keys()].map((k) => k + 1)));
    return {
      ...base,
      vectors: { dim: String(dim), sparse_float_vector: { dim: String(dim), contents: vectors.map(encodeSparse) } },
    };
  }
  if (field.dataType === "JSON") {
    const data = cells.map((c) => Buffer.from(c === null ? "" : JSON.stringify((c as { json: unknown }).json)));
    return { ...base, scalars: { json_data: { data } } };
  }
  if (field.dataType === "Array") {
    const elementKey = scalarKey(field.elementType);
    const data = cells.map((c) => ({
      [elementKey]: { data: wireScalars(field.elementType, (c as Scalar[] | null) ?? []) },
    }));
    return { ...base, scalars: { array_data: { data, element_type: field.elementType } } };
  }
  const filler: Scalar = field.dataType === "Bool" ? false : field.dataType === "VarChar" ? "" : 0;
  const data = wireScalars(
    field.dataType,
    cells.map((c) => (c === null ? filler : (c as Scalar))),
  );
  return { ...base, scalars: { [scalarKey(field.dataType)]: { data } } };
}

function wireScalars(type: string, values: Scalar[]): unknown[] {
  if (INTEGER_TYPES.has(type)) return values.map((v) => (type === "Int64" ? String(v) : Number(v)));
  return values;
}

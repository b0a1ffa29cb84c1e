import {
  type CreateCollectionReq,
  DataType,
  type DescribeCollectionResponse,
  type FieldSchema,
  type FieldType,
  FunctionType,
} from "@zilliz/milvus2-sdk-node";
import { ModelMismatchError, StoreError } from "../../errors.js";
import { KEYWORD_ANALYSIS_VERSION, LEGACY_KEYWORD_ANALYSIS } from "../keyword-text.js";
import { builtinUpgradeAdvice } from "../model-mismatch.js";
import { ANALYZER_PROPERTY, type AnalyzerKind, KEYWORD_ANALYSIS_PROPERTY, SERVER_ANALYZER_PARAMS } from "./analyzer.js";
import { FIELD_KEYS, type FieldKey, type FieldNames, OPTIONAL_FOR_WRITE, REQUIRED_FIELDS } from "./fields.js";
import {
  GENERATION_FIELD,
  GENERATION_PROPERTY,
  INITIAL_STATE,
  ROW_KEY_FIELD,
  serializeGenerationState,
} from "./generations.js";

/** Collection properties that record what built the vectors (Milvus stores properties as strings). */
export const PROPERTY = {
  modelId: "mrag.model_id",
  dimension: "mrag.dimension",
  createdAt: "mrag.created_at",
} as const;

/** Sizes of mrag's own collections. VarChar lengths are bytes of UTF-8. */
export const LIMITS = {
  id: 256,
  /** `<chunk id>@<generation>` */
  rowKey: 300,
  text: 65_535,
  source: 4096,
  short: 256,
  heading: 1024,
  arrayCapacity: 256,
} as const;

const BM25_FUNCTION = "text_bm25";

/** Required text fields that a collection with dynamic fields may hold as dynamic keys instead. */
const DYNAMIC_READABLE: readonly FieldKey[] = ["text", "source"];

/** What one field must be, for the check of an existing collection and for creating a new one. */
const EXPECTED: Record<FieldKey, { type: DataType; element?: DataType; label: string }> = {
  id: { type: DataType.VarChar, label: "VarChar (or Int64) primary key" },
  text: { type: DataType.VarChar, label: "VarChar" },
  searchText: { type: DataType.VarChar, label: "VarChar with an analyzer (BM25 input)" },
  dense: { type: DataType.FloatVector, label: "FloatVector" },
  sparse: { type: DataType.SparseFloatVector, label: "SparseFloatVector (BM25 function output)" },
  source: { type: DataType.VarChar, label: "VarChar" },
  headingPath: { type: DataType.Array, element: DataType.VarChar, label: "Array of VarChar" },
  position: { type: DataType.Int64, label: "Int64" },
  lineStart: { type: DataType.Int64, label: "Int64" },
  lineEnd: { type: DataType.Int64, label: "Int64" },
  fileType: { type: DataType.VarChar, label: "VarChar" },
  tags: { type: DataType.Array, element: DataType.VarChar, label: "Array of VarChar" },
  contentHash: { type: DataType.VarChar, label: "VarChar" },
  sourceHash: { type: DataType.VarChar, label: "VarChar" },
  ingestedAt: { type: DataType.Int64, label: "Int64" },
};

/** The create request for a new mrag collection: schema, BM25 function and model properties. */
export function createCollectionRequest(
  name: string,
  fields: FieldNames,
  modelId: string,
  dimension: number,
  consistency: string,
  analyzer: AnalyzerKind = "english",
): CreateCollectionReq {
  const varchar = (key: FieldKey, max: number, extra: Partial<FieldType> = {}): FieldType => ({
    name: fields[key],
    data_type: DataType.VarChar,
    max_length: max,
    ...extra,
  });
  const int64 = (key: FieldKey): FieldType => ({ name: fields[key], data_type: DataType.Int64 });
  const list = (key: FieldKey, max: number): FieldType => ({
    name: fields[key],
    data_type: DataType.Array,
    element_type: DataType.VarChar,
    max_capacity: LIMITS.arrayCapacity,
    max_length: max,
  });
  return {
    collection_name: name,
    description: `mrag chunks (${modelId})`,
    consistency_level: consistency,
    enable_dynamic_field: false,
    fields: [
      // One row per chunk and generation (see generations.ts): the chunk id alone is not unique.
      {
        name: ROW_KEY_FIELD,
        data_type: DataType.VarChar,
        max_length: LIMITS.rowKey,
        is_primary_key: true,
        autoID: false,
      },
      varchar("id", LIMITS.id),
      { name: GENERATION_FIELD, data_type: DataType.Int64 },
      varchar("text", LIMITS.text),
      // Heading path + text, as the embedded store indexes it, with its stemming and stop words (analyzer.ts).
      varchar("searchText", LIMITS.text, { enable_analyzer: true, analyzer_params: SERVER_ANALYZER_PARAMS[analyzer] }),
      { name: fields.dense, data_type: DataType.FloatVector, dim: dimension },
      { name: fields.sparse, data_type: DataType.SparseFloatVector, is_function_output: true },
      varchar("source", LIMITS.source),
      list("headingPath", LIMITS.heading),
      int64("position"),
      int64("lineStart"),
      int64("lineEnd"),
      varchar("fileType", LIMITS.short),
      list("tags", LIMITS.short),
      varchar("contentHash", LIMITS.short),
      varchar("sourceHash", LIMITS.short),
      int64("ingestedAt"),
    ],
    functions: [
      {
        name: BM25_FUNCTION,
        description: "BM25 sparse vectors of the chunk text (server-side full text)",
        type: FunctionType.BM25,
        input_field_names: [fields.searchText],
        output_field_names: [fields.sparse],
        params: {},
      },
    ],
    properties: {
      [PROPERTY.modelId]: modelId,
      [PROPERTY.dimension]: String(dimension),
      [PROPERTY.createdAt]: String(Date.now()),
      [GENERATION_PROPERTY]: serializeGenerationState(INITIAL_STATE),
      [ANALYZER_PROPERTY]: analyzer,
      [KEYWORD_ANALYSIS_PROPERTY]: String(KEYWORD_ANALYSIS_VERSION),
    },
  };
}

/** What an existing collection offers, after the start-up check. */
export interface CollectionLayout {
  fields: FieldNames;
  /** Logical fields the collection has (in its schema, or as dynamic keys: see `dynamic`). */
  present: ReadonlySet<FieldKey>;
  /**
   * Fields read from the dynamic field (`$meta`) because the schema lacks them: `text` and `source` of a
   * collection made with dynamic fields on, as pymilvus' quick setup (`create_collection(name, dimension=D)`)
   * makes it and the seed tutorial fills it. A row without the key reads as "". mrag never writes them.
   */
  dynamic: ReadonlySet<FieldKey>;
  /** The primary key's type: mrag's chunk ids are VarChar; quick-setup collections have Int64 ids. */
  idType: "VarChar" | "Int64";
  /** Fields mrag writes that the collection lacks: writes are refused while this is not empty. */
  missingForWrite: FieldKey[];
  dimension: number;
  /** Recorded model id; undefined for a collection mrag did not create. */
  modelId: string | undefined;
  createdAt: number;
  /** Byte limits of the VarChar fields mrag writes (from the schema). */
  maxLength: Partial<Record<FieldKey, number>>;
  /**
   * Whether replacements are crash-safe: the collection has mrag's row key, generation field and state
   * property (collections made by mrag since generations; older or foreign ones replace in place).
   */
  generations: boolean;
  /** Whether `sparse` is filled by a BM25 function from `searchText` or `text` (keyword and hybrid need it). */
  bm25: boolean;
  /** How the BM25 input was analysed (undefined: by the server alone, e.g. a collection mrag did not create). */
  analyzer: AnalyzerKind | undefined;
  /** The keyword analysis version its BM25 input was written with (analyzer.ts): 1 before CJK segmentation. */
  keywordAnalysis: number;
}

function typeParam(field: FieldSchema, key: string): string | undefined {
  const direct = (field as unknown as Record<string, unknown>)[key];
  if (direct !== undefined && direct !== null && direct !== "") return String(direct);
  return field.type_params?.find((p) => p.key === key)?.value as string | undefined;
}

function dataTypeOf(field: FieldSchema): DataType {
  if (typeof field.dataType === "number") return field.dataType;
  return DataType[field.data_type as keyof typeof DataType];
}

function elementTypeOf(field: FieldSchema): DataType | undefined {
  if (field.element_type === undefined) return undefined;
  return DataType[field.element_type as keyof typeof DataType];
}

function properties(response: DescribeCollectionResponse): Map<string, string> {
  return new Map((response.properties ?? []).map((p) => [String(p.key), String(p.value)]));
}

/**
 * Check an existing collection against what mrag needs: the required fields with the right types, the
 * dimension and the recorded model. Every difference is named with the way to fix it.
 */
export function inspectCollection(
  name: string,
  response: DescribeCollectionResponse,
  fields: FieldNames,
  asked: { modelId: string; dimension: number },
  where: string,
): CollectionLayout {
  const byName = new Map(response.schema.fields.map((f) => [f.name, f]));
  const rowKeyField = byName.get(ROW_KEY_FIELD);
  const rowKeyIsPrimary = rowKeyField !== undefined && rowKeyField.is_primary_key === true;
  const present = new Set<FieldKey>();
  const problems: string[] = [];
  const maxLength: Partial<Record<FieldKey, number>> = {};
  for (const key of FIELD_KEYS) {
    const field = byName.get(fields[key]);
    if (!field) continue;
    const expected = EXPECTED[key];
    const type = dataTypeOf(field);
    const int64Id = key === "id" && type === DataType.Int64;
    if (
      !int64Id &&
      (type !== expected.type || (expected.element !== undefined && elementTypeOf(field) !== expected.element))
    ) {
      problems.push(`field "${fields[key]}" (${key}) is ${field.data_type}, expected ${expected.label}`);
      continue;
    }
    if (key === "id" && !field.is_primary_key && !rowKeyIsPrimary) {
      problems.push(`field "${fields.id}" must be the primary key`);
      continue;
    }
    const max = typeParam(field, "max_length");
    if (max !== undefined) maxLength[key] = Number(max);
    present.add(key);
  }
  const dynamic = new Set<FieldKey>();
  if (response.schema.enable_dynamic_field) {
    for (const key of DYNAMIC_READABLE) {
      if (!byName.has(fields[key])) {
        dynamic.add(key);
        present.add(key);
      }
    }
  }
  const missingRequired = REQUIRED_FIELDS.filter((k) => !present.has(k) && !byName.has(fields[k]));
  if (missingRequired.length > 0 || problems.length > 0) {
    const missing = missingRequired.map((k) => `"${fields[k]}" (${k})`).join(", ");
    const available = response.schema.fields.map((f) => `${f.name}: ${f.data_type}`).join(", ");
    throw new StoreError(
      `collection "${name}" in ${where} cannot be used by mrag: ` +
        [...(missing ? [`missing required fields ${missing}`] : []), ...problems].join("; ") +
        `. Its fields are: ${available}. Map them with milvus.fields in the config ` +
        `(e.g. {"text": "content", "dense": "embedding"}), or use another --collection.`,
    );
  }
  const dense = byName.get(fields.dense);
  const dimension = Number(dense ? typeParam(dense, "dim") : Number.NaN);
  const props = properties(response);
  const modelId = props.get(PROPERTY.modelId);
  if (dimension !== asked.dimension || (modelId !== undefined && modelId !== asked.modelId)) {
    const built = modelId ? `embedding model ${modelId} (${dimension}-d vectors)` : `${dimension}-d vectors`;
    throw new ModelMismatchError(
      `collection "${name}" in ${where} was built with ${built}, but ${asked.modelId} ` +
        `(${asked.dimension}-d) was asked for; vectors from different models cannot be compared. ` +
        ((modelId ? builtinUpgradeAdvice(modelId, asked.modelId) : null) ??
          (modelId ? `Switch back with \`--embedder ${modelId}\`, or ` : "Use the embedder that built it, or ") +
            "ingest into another --collection (or migrate: see docs/milvus.md)."),
    );
  }
  const bm25Input = present.has("searchText") ? fields.searchText : fields.text;
  const bm25 =
    present.has("sparse") &&
    (response.schema.functions ?? []).some(
      (f) =>
        (f.type === FunctionType.BM25 || String(f.type) === "BM25") &&
        f.input_field_names?.includes(bm25Input) &&
        f.output_field_names?.includes(fields.sparse),
    );
  const createdRaw = props.get(PROPERTY.createdAt) ?? response.created_utc_timestamp;
  const generationField = byName.get(GENERATION_FIELD);
  const generations =
    rowKeyIsPrimary &&
    generationField !== undefined &&
    dataTypeOf(generationField) === DataType.Int64 &&
    props.has(GENERATION_PROPERTY);
  return {
    fields,
    present,
    missingForWrite: FIELD_KEYS.filter((k) => (!present.has(k) || dynamic.has(k)) && !OPTIONAL_FOR_WRITE.includes(k)),
    dynamic,
    idType: dataTypeOf(byName.get(fields.id) as FieldSchema) === DataType.Int64 ? "Int64" : "VarChar",
    dimension,
    modelId,
    createdAt: Number(createdRaw) || 0,
    maxLength,
    generations,
    bm25,
    analyzer: analyzerOf(props.get(ANALYZER_PROPERTY)),
    keywordAnalysis: Number(props.get(KEYWORD_ANALYSIS_PROPERTY)) || LEGACY_KEYWORD_ANALYSIS,
  };
}

function analyzerOf(recorded: string | undefined): AnalyzerKind | undefined {
  return recorded === "english" || recorded === "mrag-english" ? recorded : undefined;
}

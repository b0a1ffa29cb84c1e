import { MILVUS_FIELD_KEYS } from "../../config/schema.js";

/**
 * The logical fields of a chunk and the Milvus field that holds each. mrag's own collections use the
 * defaults; an existing collection can be used by mapping its names (`milvus.fields` in the config).
 */
export const FIELD_KEYS = MILVUS_FIELD_KEYS;
export type FieldKey = (typeof FIELD_KEYS)[number];
export type FieldNames = Readonly<Record<FieldKey, string>>;

export const DEFAULT_FIELD_NAMES: FieldNames = {
  id: "id",
  text: "text",
  searchText: "search_text",
  dense: "dense",
  sparse: "sparse",
  source: "source",
  headingPath: "heading_path",
  position: "position",
  lineStart: "line_start",
  lineEnd: "line_end",
  fileType: "file_type",
  tags: "tags",
  contentHash: "content_hash",
  sourceHash: "source_hash",
  ingestedAt: "ingested_at",
};

/** Without these a collection cannot be searched or read at all. */
export const REQUIRED_FIELDS: readonly FieldKey[] = ["id", "text", "dense", "source"];

export function resolveFieldNames(overrides: Partial<Record<FieldKey, string>> = {}): FieldNames {
  const names: Record<FieldKey, string> = { ...DEFAULT_FIELD_NAMES };
  for (const key of FIELD_KEYS) {
    const value = overrides[key];
    if (value !== undefined) names[key] = value;
  }
  return names;
}

/** Fields mrag writes only when the collection has them (full-text input and output). */
export const OPTIONAL_FOR_WRITE: readonly FieldKey[] = ["searchText", "sparse"];

/** Column names for `output_fields`: what a chunk is read from (no vectors unless asked, no search text). */
export function outputFields(fields: FieldNames, present: ReadonlySet<FieldKey>, withVector = false): string[] {
  return FIELD_KEYS.filter(
    (k) => present.has(k) && k !== "sparse" && k !== "searchText" && (withVector || k !== "dense"),
  ).map((k) => fields[k]);
}

/**
 * The shapes of decoded Milvus protobuf messages this server reads and writes, as @grpc/proto-loader produces
 * them with the SDK's own loader options (snake_case keys, int64 as strings, enums as names, defaults filled in,
 * oneofs named by a virtual property).
 */

export interface KeyValuePair {
  key: string;
  value: string;
}

export interface WireFieldSchema {
  fieldID: string;
  name: string;
  is_primary_key: boolean;
  description: string;
  data_type: string;
  type_params: KeyValuePair[];
  index_params: KeyValuePair[];
  autoID: boolean;
  element_type: string;
  default_value: WireValueField | null;
  is_dynamic: boolean;
  is_partition_key: boolean;
  is_clustering_key: boolean;
  nullable: boolean;
  is_function_output: boolean;
  [key: string]: unknown;
}

export interface WireValueField {
  data?: string;
  [key: string]: unknown;
}

export interface WireFunctionSchema {
  name: string;
  id: string;
  description: string;
  type: string;
  input_field_names: string[];
  input_field_ids: string[];
  output_field_names: string[];
  output_field_ids: string[];
  params: KeyValuePair[];
}

export interface WireCollectionSchema {
  name: string;
  description: string;
  autoID: boolean;
  fields: WireFieldSchema[];
  enable_dynamic_field: boolean;
  properties: KeyValuePair[];
  functions: WireFunctionSchema[];
  struct_array_fields: unknown[];
  [key: string]: unknown;
}

export interface Typed<T> {
  data: T[];
}

export interface WireScalarField {
  data?: string;
  bool_data?: Typed<boolean>;
  int_data?: Typed<number>;
  long_data?: Typed<string>;
  float_data?: Typed<number>;
  double_data?: Typed<number>;
  string_data?: Typed<string>;
  array_data?: { data: WireScalarField[]; element_type: string };
  json_data?: Typed<Buffer>;
  [key: string]: unknown;
}

export interface WireVectorField {
  dim: string;
  data?: string;
  float_vector?: Typed<number>;
  sparse_float_vector?: { contents: Buffer[]; dim: string };
  [key: string]: unknown;
}

export interface WireFieldData {
  type: string;
  field_name: string;
  field?: string;
  scalars?: WireScalarField | null;
  vectors?: WireVectorField | null;
  field_id: string;
  is_dynamic: boolean;
  valid_data: boolean[];
}

export interface WireTemplateValue {
  val?: string;
  bool_val?: boolean;
  int64_val?: string;
  float_val?: number;
  string_val?: string;
  array_val?: WireTemplateArray;
}

export interface WireTemplateArray {
  data?: string;
  bool_data?: Typed<boolean>;
  long_data?: Typed<string>;
  double_data?: Typed<number>;
  string_data?: Typed<string>;
  array_data?: { data: WireTemplateArray[] };
  json_data?: Typed<Buffer>;
}

export interface WireSearchRequest {
  db_name: string;
  collection_name: string;
  partition_names: string[];
  dsl: string;
  search_input?: string;
  placeholder_group?: Buffer;
  ids?: unknown;
  output_fields: string[];
  search_params: KeyValuePair[];
  nq: string;
  expr_template_values: Record<string, WireTemplateValue>;
  function_score: { functions: unknown[]; params: KeyValuePair[] } | null;
  sub_reqs: unknown[];
}

export interface WireHybridSearchRequest {
  db_name: string;
  collection_name: string;
  partition_names: string[];
  requests: WireSearchRequest[];
  rank_params: KeyValuePair[];
  output_fields: string[];
  function_score: { functions: unknown[]; params: KeyValuePair[] } | null;
}

export interface WireQueryRequest {
  db_name: string;
  collection_name: string;
  expr: string;
  output_fields: string[];
  partition_names: string[];
  query_params: KeyValuePair[];
  expr_template_values: Record<string, WireTemplateValue>;
}

export interface WireInsertRequest {
  db_name: string;
  collection_name: string;
  partition_name: string;
  fields_data: WireFieldData[];
  num_rows: number;
  partial_update?: boolean;
}

export interface WireDeleteRequest {
  db_name: string;
  collection_name: string;
  partition_name: string;
  expr: string;
  expr_template_values: Record<string, WireTemplateValue>;
}

export interface WirePlaceholderGroup {
  placeholders: { tag: string; type: string; values: Buffer[] }[];
}

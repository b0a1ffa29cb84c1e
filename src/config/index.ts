export { CONFIG_KEYS, type KeyMeta } from "./keys.js";
export { describeConfig, type LoadConfigOptions, type LoadedConfig, loadConfig, type ValueOrigin } from "./load.js";
export { ConfigSchema, type MragConfig } from "./schema.js";

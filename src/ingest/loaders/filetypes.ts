import path from "node:path";
import type { FileType } from "../../store/types.js";

/** What a path's name says about its content. */
export interface DetectedType {
  fileType: FileType;
  /** Code language, or the text dialect (`restructuredtext`, `asciidoc`, `toml`) that drives chunking. */
  language?: string;
}

const MARKDOWN_EXTENSIONS = ["md", "mdx", "markdown", "mdown", "mkd"];
const HTML_EXTENSIONS = ["html", "htm", "xhtml"];

const TEXT_EXTENSIONS: Record<string, string | undefined> = {
  txt: undefined,
  text: undefined,
  rst: "restructuredtext",
  adoc: "asciidoc",
  asciidoc: "asciidoc",
};

/** Extension (lower case, no dot) -> language id. */
export const CODE_LANGUAGES: Readonly<Record<string, string>> = {
  ts: "typescript",
  tsx: "typescript",
  mts: "typescript",
  cts: "typescript",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  py: "python",
  pyi: "python",
  go: "go",
  rs: "rust",
  java: "java",
  kt: "kotlin",
  kts: "kotlin",
  c: "c",
  h: "c",
  cpp: "cpp",
  cc: "cpp",
  cxx: "cpp",
  hpp: "cpp",
  hh: "cpp",
  hxx: "cpp",
  cs: "csharp",
  rb: "ruby",
  php: "php",
  swift: "swift",
  scala: "scala",
  sc: "scala",
  sh: "shell",
  bash: "shell",
  zsh: "shell",
  fish: "shell",
  ps1: "powershell",
  sql: "sql",
  css: "css",
  scss: "scss",
  sass: "sass",
  less: "less",
  vue: "vue",
  svelte: "svelte",
  lua: "lua",
  dart: "dart",
  r: "r",
  jl: "julia",
  ex: "elixir",
  exs: "elixir",
  erl: "erlang",
  hs: "haskell",
  ml: "ocaml",
  clj: "clojure",
  pl: "perl",
  pm: "perl",
  proto: "protobuf",
  graphql: "graphql",
  gql: "graphql",
  tf: "hcl",
  hcl: "hcl",
  zig: "zig",
  nim: "nim",
  m: "objective-c",
  mm: "objective-c",
  groovy: "groovy",
  gradle: "groovy",
  xml: "xml",
};

/** File names (no extension) that are worth indexing. */
const KNOWN_NAMES: Readonly<Record<string, DetectedType>> = {
  dockerfile: { fileType: "code", language: "dockerfile" },
  makefile: { fileType: "code", language: "make" },
  gnumakefile: { fileType: "code", language: "make" },
  readme: { fileType: "text" },
  license: { fileType: "text" },
  licence: { fileType: "text" },
  notice: { fileType: "text" },
  changelog: { fileType: "text" },
  authors: { fileType: "text" },
  contributing: { fileType: "text" },
  copying: { fileType: "text" },
};

/** Lower-case extension without the dot (`""` when none). */
export function extensionOf(filePath: string): string {
  const base = path.basename(filePath);
  const dot = base.lastIndexOf(".");
  return dot <= 0 ? "" : base.slice(dot + 1).toLowerCase();
}

/** The file type of a path by its name, or undefined when mrag does not index it by default. */
export function detectFileType(filePath: string): DetectedType | undefined {
  const ext = extensionOf(filePath);
  if (MARKDOWN_EXTENSIONS.includes(ext)) return { fileType: "markdown" };
  if (HTML_EXTENSIONS.includes(ext)) return { fileType: "html" };
  if (ext === "pdf") return { fileType: "pdf" };
  if (ext in TEXT_EXTENSIONS) {
    const language = TEXT_EXTENSIONS[ext];
    return language === undefined ? { fileType: "text" } : { fileType: "text", language };
  }
  if (ext === "json" || ext === "jsonc" || ext === "json5" || ext === "jsonl" || ext === "ndjson") {
    return { fileType: "json" };
  }
  if (ext === "yaml" || ext === "yml") return { fileType: "yaml", language: "yaml" };
  if (ext === "toml") return { fileType: "yaml", language: "toml" };
  const language = CODE_LANGUAGES[ext];
  if (language !== undefined) return { fileType: "code", language };
  if (ext === "") {
    const known = KNOWN_NAMES[path.basename(filePath).toLowerCase()];
    if (known !== undefined) return known;
  }
  return undefined;
}

/** Every extension indexed by default, for messages and docs. */
export function supportedExtensions(): string[] {
  return [
    ...MARKDOWN_EXTENSIONS,
    ...HTML_EXTENSIONS,
    "pdf",
    ...Object.keys(TEXT_EXTENSIONS),
    "json",
    "jsonc",
    "json5",
    "jsonl",
    "ndjson",
    "yaml",
    "yml",
    "toml",
    ...Object.keys(CODE_LANGUAGES),
  ].sort();
}

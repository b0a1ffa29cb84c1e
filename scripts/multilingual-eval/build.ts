/**
 * Dev script: builds the corpora of examples/multilingual (the zh / ja / ko retrieval eval set) from Debian's
 * translated man pages. The questions are written by hand and are not touched; the script checks that each
 * question's gold title is in the corpus it wrote.
 *
 *   apt-get download man-db passwd xz-utils manpages-zh manpages-ja   # Debian 12 (bookworm)
 *   npm run build:ts && node dist/scripts/multilingual-eval/build.js --out examples/multilingual *.deb
 *
 * Each .deb is unpacked with dpkg-deb into a temporary folder; the pages of PAGES are read from
 * usr/share/man/<locale>/, split into paragraphs (roff.ts), and paragraphs with fewer than MIN_LETTERS letters of
 * the language's script are dropped (untranslated English paragraphs, option lists). Writes <lang>/corpus.json
 * (HippoRAG layout: [{title, text}]), sources.json (package, version, page, SHA-256 of the page source) and
 * copyright/<package>.copyright (the package's Debian copyright file).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import { parseManPage } from "./roff.js";

type Lang = "zh" | "ja" | "ko";

interface PageSet {
  pkg: string;
  locale: string;
  /** Paths under usr/share/man/<locale>/. */
  pages: string[];
}

/** man-db's pages but man(1), lexgrog(1) and manpath(5), which would outweigh the rest. */
const MAN_DB = [
  "man1/apropos.1",
  "man1/manconv.1",
  "man1/manpath.1",
  "man1/whatis.1",
  "man1/zsoelim.1",
  "man8/accessdb.8",
  "man8/catman.8",
  "man8/mandb.8",
];

/** About 200 paragraphs a language, from three packages each. */
const PAGES: Record<Lang, PageSet[]> = {
  zh: [
    { pkg: "man-db", locale: "zh_CN", pages: MAN_DB },
    {
      pkg: "passwd",
      locale: "zh_CN",
      pages: ["man1/passwd.1", "man5/gshadow.5", "man5/shadow.5", "man8/useradd.8", "man8/usermod.8"],
    },
    { pkg: "manpages-zh", locale: "zh_CN", pages: ["man1/chmod.1"] },
  ],
  ja: [
    { pkg: "man-db", locale: "ja", pages: MAN_DB },
    {
      pkg: "passwd",
      locale: "ja",
      pages: [
        "man1/chage.1",
        "man1/chfn.1",
        "man1/chsh.1",
        "man1/gpasswd.1",
        "man5/passwd.5",
        "man5/shadow.5",
        "man8/groupadd.8",
        "man8/newusers.8",
        "man8/userdel.8",
        "man8/usermod.8",
      ],
    },
    { pkg: "manpages-ja", locale: "ja", pages: ["man1/chmod.1"] },
  ],
  ko: [
    { pkg: "man-db", locale: "ko", pages: MAN_DB },
    { pkg: "passwd", locale: "ko", pages: ["man1/chfn.1", "man1/chsh.1", "man5/passwd.5", "man8/vipw.8"] },
    { pkg: "xz-utils", locale: "ko", pages: ["man1/xzdiff.1", "man1/xzgrep.1", "man1/xzless.1", "man1/xzmore.1"] },
  ],
};

const SCRIPT: Record<Lang, RegExp> = {
  zh: /\p{Script=Han}/gu,
  ja: /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/gu,
  ko: /\p{Script=Hangul}/gu,
};
const MIN_LETTERS = 8;

interface Unpacked {
  pkg: string;
  version: string;
  root: string;
}

function unpack(deb: string, into: string): Unpacked {
  const pkg = execFileSync("dpkg-deb", ["-f", deb, "Package"], { encoding: "utf8" }).trim();
  const version = execFileSync("dpkg-deb", ["-f", deb, "Version"], { encoding: "utf8" }).trim();
  const root = path.join(into, pkg);
  mkdirSync(root, { recursive: true });
  execFileSync("dpkg-deb", ["-x", deb, root]);
  return { pkg, version, root };
}

function readPage(root: string, locale: string, page: string): Buffer | undefined {
  const base = path.join(root, "usr/share/man", locale, page);
  if (existsSync(`${base}.gz`)) return gunzipSync(readFileSync(`${base}.gz`));
  if (existsSync(base)) return readFileSync(base);
  return undefined;
}

interface SourceRecord {
  lang: Lang;
  package: string;
  version: string;
  page: string;
  sha256: string;
  paragraphs: number;
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { out: { type: "string", default: "examples/multilingual" } },
    allowPositionals: true,
  });
  const out = path.resolve(values.out);
  const work = mkdtempSync(path.join(tmpdir(), "mrag-mleval-"));
  try {
    const packages = new Map<string, Unpacked>();
    for (const deb of positionals) {
      const unpacked = unpack(deb, work);
      packages.set(unpacked.pkg, unpacked);
    }
    const sources: SourceRecord[] = [];
    mkdirSync(path.join(out, "copyright"), { recursive: true });
    for (const [lang, sets] of Object.entries(PAGES) as [Lang, PageSet[]][]) {
      const corpus: { title: string; text: string }[] = [];
      for (const set of sets) {
        const unpacked = packages.get(set.pkg);
        if (!unpacked) throw new Error(`no .deb given for ${set.pkg}`);
        copyFileSync(
          path.join(unpacked.root, "usr/share/doc", set.pkg, "copyright"),
          path.join(out, "copyright", `${set.pkg}.copyright`),
        );
        for (const page of set.pages) {
          const bytes = readPage(unpacked.root, set.locale, page);
          if (!bytes) throw new Error(`${set.pkg} ${unpacked.version} has no ${set.locale}/${page}`);
          const parsed = parseManPage(bytes.toString("utf8"));
          let kept = 0;
          for (const [index, paragraph] of parsed.paragraphs.entries()) {
            const letters = paragraph.text.match(SCRIPT[lang])?.length ?? 0;
            if (letters < MIN_LETTERS) continue;
            kept++;
            corpus.push({ title: `${parsed.title} ${paragraph.section} ${index + 1}`, text: paragraph.text });
          }
          sources.push({
            lang,
            package: set.pkg,
            version: unpacked.version,
            page: `usr/share/man/${set.locale}/${page}`,
            sha256: createHash("sha256").update(bytes).digest("hex"),
            paragraphs: kept,
          });
        }
      }
      mkdirSync(path.join(out, lang), { recursive: true });
      writeFileSync(path.join(out, lang, "corpus.json"), `${JSON.stringify(corpus, null, 2)}\n`);
      process.stderr.write(`[multilingual-eval] ${lang}: ${corpus.length} paragraphs\n`);
      checkQuestions(path.join(out, lang, "questions.json"), new Set(corpus.map((c) => c.title)));
    }
    writeFileSync(path.join(out, "sources.json"), `${JSON.stringify(sources, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function checkQuestions(file: string, titles: Set<string>): void {
  if (!existsSync(file)) return;
  const items = JSON.parse(readFileSync(file, "utf8")) as { id: string; supporting_facts: [string, number][] }[];
  for (const item of items) {
    for (const [title] of item.supporting_facts) {
      if (!titles.has(title)) process.stderr.write(`[multilingual-eval] ${item.id}: gold "${title}" not in corpus\n`);
    }
  }
}

main();

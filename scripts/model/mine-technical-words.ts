/**
 * Regenerates scripts/model/technical-words.txt (committed; the model build only reads that file):
 *
 *   node dist/scripts/model/mine-technical-words.js [--node-modules <dir>] [--min-count 5] [--min-packages 3]
 *
 * The list is a hand-curated set of database / vector search / ML / devops / cloud / programming terms plus
 * words mined from README and markdown files and the doc comments of .d.ts files under node_modules (words
 * used by at least `--min-packages` packages and `--min-count` times), minus everything already among the
 * GloVe words the model takes. Output: one lowercase word per line, sorted.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findPackageRoot, technicalWordsFile } from "./build.js";
import { RECIPE } from "./recipe.js";
import { isWordToken, normalizeLikeBert, readGloveWords } from "./vocab.js";

/** Hand-curated terms; words already in the GloVe part of the vocabulary are dropped automatically. */
export const CURATED_WORDS = `
milvus zilliz pymilvus knowhere attu birdwatcher woodpecker datanode querynode indexnode streamingnode
rootcoord querycoord datacoord indexcoord mixcoord proxynode milvusdb
qdrant weaviate pinecone chroma chromadb pgvector pgvectorscale lancedb vespa vald vearch marqo typesense
meilisearch elasticsearch opensearch solr lucene faiss annoy scann hnswlib diskann nmslib usearch cagra
redis redisearch memcached valkey postgres postgresql psql mysql mariadb sqlite sqlite3 mongodb mongo
cassandra scylla scylladb cockroachdb tidb tikv clickhouse duckdb snowflake bigquery redshift dynamodb
cosmosdb firestore supabase neo4j cypher couchdb couchbase rocksdb leveldb lmdb badgerdb boltdb etcd
zookeeper consul influxdb timescaledb questdb prometheus grafana kibana logstash fluentd fluentbit loki
minio ceph hdfs gcs s3 parquet avro protobuf flatbuffers iceberg deltalake hudi spark pyspark flink
hadoop hive presto trino druid pinot kafka pulsar bookkeeper rabbitmq nats kinesis zeromq zmq activemq
rocketmq debezium oltp olap mvcc wal binlog binlogs sharding sharded shard shards replica replicas
replication upsert upserts upserted compaction compactions tombstone tombstones memtable sstable sstables
lsm btree bptree rowid rowids varchar bfloat16 float16 int8 int16 int32 int64 uint8 fp16 bf16 fp32 fp8
int4 sq8 pq opq hnsw ivf ivfflat ivfpq ivfsq8 ivfrabitq rabitq knn ann anns nprobe nlist efconstruction
efsearch topk rerank reranker rerankers reranking rerankers bm25 tfidf splade colbert embedding embeddings
vectorize vectorized vectorization vectordb quantize quantized quantization dequantize cosine euclidean
hamming jaccard dotproduct mrr ndcg recall precision rag retriever retrievers chunking chunker chunked
tokenizer tokenizers tokenize tokenized tokenization detokenize bpe wordpiece sentencepiece tiktoken
semantic hybrid multitenancy multitenant tenant tenants partitionkey
pytorch torch tensorflow tfjs keras jax numpy scipy pandas polars sklearn scikit matplotlib jupyter
notebook onnx onnxruntime tensorrt openvino coreml huggingface transformers diffusers safetensors gguf
ggml llamacpp ollama vllm sglang tgi triton bert roberta distilbert albert electra minilm mpnet e5 bge
gte nomic jina voyage cohere openai anthropic claude gemini gpt gpt2 gpt3 gpt4 gpt4o chatgpt davinci
llama llama2 llama3 mistral mixtral gemma qwen phi deepseek falcon vicuna alpaca llm llms slm mllm vlm
lora qlora peft rlhf dpo sft finetune finetuning finetuned pretrained pretraining pretrain inference
softmax relu gelu silu swiglu logits logit backprop backpropagation optimizer optimizers adam adamw sgd
epoch epochs dropout batchnorm layernorm rmsnorm attention transformer encoder decoder autoencoder
autoregressive seq2seq cnn rnn lstm gru gan vae diffusion multimodal clip vit yolo resnet imagenet cuda
cudnn rocm tpu npu gpu gpus cpu cpus simd avx avx2 avx512 neon gptq awq hyperparameter hyperparameters
prompt prompts prompting hallucination hallucinations agentic agent agents mcp langchain langgraph
llamaindex haystack dspy autogen crewai openrouter groq embedder embedders kv kvcache
kubernetes k8s kubectl kubeadm kubelet helm docker dockerfile dockerhub podman containerd minikube k3s
k3d kustomize istio envoy linkerd nginx haproxy traefik caddy terraform opentofu pulumi ansible puppet
vagrant jenkins gitlab github bitbucket circleci argocd fluxcd tekton devops sre cicd observability
opentelemetry otel jaeger zipkin datadog newrelic pagerduty sentry statefulset statefulsets daemonset
daemonsets deployment deployments configmap configmaps ingress namespace namespaces pod pods sidecar
sidecars crd crds autoscaling autoscaler hpa rollout rollouts rollback canary systemd systemctl cron
crontab yaml yml toml json jsonl ndjson csv tsv xml grpc protobufs http2 http3 quic tls ssl mtls oauth
oauth2 oidc saml jwt ldap kerberos rbac iam sso vpn vpc subnet subnets cidr dns tcp udp ipv4 ipv6
websocket websockets rest restful graphql openapi swagger rpc webhook webhooks cdn loadbalancer
aws gcp azure ec2 ebs efs rds aurora lambda fargate ecs eks gke aks cloudformation cloudwatch sqs sns
bedrock sagemaker vertex serverless cloudflare vercel netlify heroku digitalocean openstack aliyun
saas paas iaas multicloud onprem
javascript typescript nodejs deno bun npm npx pnpm yarn webpack vite rollup esbuild babel eslint
prettier biome vitest jest mocha pytest unittest python pip conda venv virtualenv poetry golang rustlang
cargo rustc java jvm kotlin scala gradle maven csharp dotnet cpp cmake clang gcc llvm wasm webassembly
ruby rails php laravel django flask fastapi uvicorn gunicorn express nestjs nextjs nuxt react vue angular
svelte jquery html css sass tailwind regex async await callback callbacks goroutine goroutines mutex
semaphore deadlock threadpool multithreading concurrency asyncio coroutine coroutines microservice
microservices monorepo refactor refactoring linter debugger stacktrace segfault oom heap stdout stderr
stdin utf8 ascii unicode base64 sha1 sha256 md5 uuid guid hashmap hashtable trie bitmap bitmaps bitset
api apis sdk sdks cli gui ide vscode vim emacs git repo repos commit commits rebase changelog semver
env dotenv config configs localhost hostname url urls uri http https ssh scp rsync curl wget grep sed awk
bash zsh shell posix linux ubuntu debian centos rhel alpine macos homebrew windows wsl arm64 amd64 x86
x64 aarch64 runtime runtimes middleware backend frontend fullstack codebase boilerplate scaffold
dataset datasets dataframe dataframes etl elt pipeline pipelines orchestration airflow dagster prefect
dbt metadata schema schemas serialization deserialization serialize deserialize idempotent idempotency
throughput latency p99 qps tps rps sla slo benchmark benchmarks benchmarking profiling profiler
`;

function walk(dir: string, out: string[]): void {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(md|markdown|d\.ts|d\.mts|d\.cts)$/i.test(e.name)) out.push(p);
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      "node-modules": { type: "string" },
      "min-count": { type: "string", default: "5" },
      "min-packages": { type: "string", default: "3" },
    },
  });
  const root = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
  const nodeModules = path.resolve(values["node-modules"] ?? path.join(root, "node_modules"));
  const minCount = Number(values["min-count"]);
  const minPackages = Number(values["min-packages"]);

  const gloveTop = new Set<string>();
  for (const raw of readGloveWords()) {
    if (gloveTop.size >= RECIPE.vocab.gloveWords) break;
    const w = normalizeLikeBert(raw);
    if (isWordToken(w)) gloveTop.add(w);
  }

  const files: string[] = [];
  walk(nodeModules, files);
  files.sort();
  const count = new Map<string, number>();
  const packages = new Map<string, Set<string>>();
  for (const file of files) {
    const rel = path.relative(nodeModules, file).split(path.sep);
    const pkg = rel[0]?.startsWith("@") ? `${rel[0]}/${rel[1]}` : (rel[0] ?? "");
    let text = readFileSync(file, "utf8");
    if (/\.d\.[mc]?ts$/.test(file)) text = (text.match(/\/\*\*[\s\S]*?\*\//g) ?? []).join("\n");
    text = text.replace(/https?:\/\/\S+/g, " ");
    for (const m of text.matchAll(/[\p{L}\p{N}]+/gu)) {
      const w = normalizeLikeBert(m[0]);
      if (w.length < 2 || w.length > 24 || !/\p{L}/u.test(w) || gloveTop.has(w) || !isWordToken(w)) continue;
      if (/^[0-9a-f]{6,}$/.test(w)) continue; // hashes
      count.set(w, (count.get(w) ?? 0) + 1);
      let set = packages.get(w);
      if (!set) {
        set = new Set();
        packages.set(w, set);
      }
      set.add(pkg);
    }
  }
  const words = new Set<string>();
  for (const [w, c] of count) if (c >= minCount && (packages.get(w)?.size ?? 0) >= minPackages) words.add(w);
  const mined = words.size;
  for (const raw of CURATED_WORDS.split(/\s+/)) {
    const w = normalizeLikeBert(raw);
    if (w && isWordToken(w) && !gloveTop.has(w)) words.add(w);
  }
  const sorted = [...words].sort();
  writeFileSync(technicalWordsFile(root), `${sorted.join("\n")}\n`);
  process.stderr.write(
    `[mine-technical-words] ${files.length} files, ${mined} mined words, ${sorted.length} words written to ` +
      `${path.relative(root, technicalWordsFile(root))}\n`,
  );
}

main();

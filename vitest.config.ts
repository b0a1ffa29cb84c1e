import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests load a real model and real LanceDB tables; two cores, so keep forks modest.
    pool: "forks",
    maxWorkers: 2,
  },
});

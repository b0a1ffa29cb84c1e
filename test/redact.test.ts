import { describe, expect, it } from "vitest";
import { redactText, redactUrl } from "../src/redact.js";

describe("redaction", () => {
  it("is idempotent: masking an already-masked message changes nothing", () => {
    for (const text of [
      "the LLM server at http://user:pass-word-1@127.0.0.1:9/v1 refused",
      "GET https://host/v1?api_key=sk-1234567890&x=1 failed",
      "Authorization: Bearer abc123456789",
    ]) {
      const once = redactText(redactUrl(text));
      expect(once).not.toMatch(/pass-word-1|sk-1234567890|abc123456789/);
      expect(redactText(once)).toBe(once);
    }
    expect(redactText(redactUrl("http://user:pass-word-1@h/"))).toBe("http://***:***@h/");
  });
});

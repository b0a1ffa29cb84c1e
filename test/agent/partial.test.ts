import { describe, expect, it } from "vitest";
import { partialStringField } from "../../src/agent/partial.js";

describe("partialStringField", () => {
  it("reads a string field of JSON still being written, decoding escapes", () => {
    expect(partialStringField('{"confidence": "high", "answer": "Stephen Ki', "answer")).toBe("Stephen Ki");
    expect(partialStringField('{"answer": "a \\"quoted\\" word\\nnext", "x": 1}', "answer")).toBe(
      'a "quoted" word\nnext',
    );
    expect(partialStringField('{"answer": "caf\\u00e9', "answer")).toBe("café");
  });

  it("holds back an escape cut in half and is undefined before the field starts", () => {
    expect(partialStringField('{"answer": "line\\', "answer")).toBe("line");
    expect(partialStringField('{"answer": "caf\\u00', "answer")).toBe("caf");
    expect(partialStringField('{"answ', "answer")).toBeUndefined();
    expect(partialStringField('{"answer": ', "answer")).toBeUndefined();
  });
});

// The dashboard the Swift binary serves is committed as generated Swift source: it must be
// exactly what a fresh build of Clients/web/src/dashboard produces (run `make dashboard`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { generate, generatedPath, swiftLiteral } from "../tools/dashboard-assets.mjs";

test("the committed DashboardAssets.generated.swift is a fresh build of src/dashboard", () => {
  const fresh = generate();
  const committed = readFileSync(generatedPath, "utf8");
  assert.ok(fresh === committed, "Sources/EddyDAGServer/DashboardAssets.generated.swift is stale: run `make dashboard` and commit it");
});

test("a Swift raw literal's delimiter outgrows every quote-hash and backslash-hash in the text", () => {
  assert.equal(swiftLiteral("a"), '#"""\na\n"""#');
  assert.equal(swiftLiteral('say "# and \\#(x)'), '##"""\nsay "# and \\#(x)\n"""##');
  assert.equal(swiftLiteral('"##'), '###"""\n"##\n"""###');
  assert.throws(() => swiftLiteral("a\r\nb"), /control character/);
});

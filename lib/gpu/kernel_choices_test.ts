// Tests of adapterClassOf: the class that picks a device's prior kernel choice.
import assert from "node:assert/strict";
import { adapterClassOf } from "./kernel_choices.ts";

Deno.test("adapterClassOf: software renderers are cpu, Intel and Apple integrated, others discrete", () => {
  const facts = (vendor: string, description: string, isFallback = false) => ({
    vendor,
    architecture: "",
    description,
    isFallback,
  });
  assert.equal(adapterClassOf(facts("65541", "llvmpipe (LLVM 15.0.6, 256 bits)", true)), "cpu");
  assert.equal(adapterClassOf(facts("65541", "llvmpipe (LLVM 15.0.6, 256 bits)")), "cpu");
  assert.equal(adapterClassOf(facts("google", "SwiftShader Device (Subzero)")), "cpu");
  assert.equal(adapterClassOf(facts("intel", "Intel(R) UHD Graphics 620")), "integrated");
  assert.equal(adapterClassOf(facts("apple", "Apple M2")), "integrated");
  assert.equal(adapterClassOf(facts("nvidia", "NVIDIA H100 80GB HBM3")), "discrete");
  assert.equal(adapterClassOf(facts("4318", "NVIDIA GeForce RTX 4090")), "discrete");
});

/**
 * Deno's WebGPU on Linux must not open wgpu's OpenGL backend. Mesa's EGL, which that backend
 * loads, has an exit handler that races with the EGL state of the threads that created
 * instances: `deno test`, with one WebGPU instance per test module, passed every test and then
 * aborted at exit with `double free or corruption` in about one run in four of an 8-module
 * reproducer (each module only requesting an adapter), and in none of 80 runs with Vulkan only.
 * `findAdapter` therefore restricts Deno on Linux to Vulkan (lib/gpu/device.ts). The crash itself
 * is timing-dependent; what this test checks deterministically is its precondition: after
 * `findAdapter`, no EGL or Mesa GL driver is mapped into the process.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { testGpu } from "./_gpu.ts";

const GL_LIBRARIES = /lib(EGL|GLX|GL)[._]|_dri\.so/;

Deno.test({
  name: "findAdapter on Linux loads Vulkan only: no EGL or GL driver is mapped afterwards",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await testGpu(); // fails without an adapter under REQUIRE_GPU=1
    const device = fileURLToPath(new URL("../lib/gpu/device.ts", import.meta.url));
    const script = `import { findAdapter } from ${JSON.stringify(device)};\n` +
      `const adapter = await findAdapter();\n` +
      `console.log(JSON.stringify({ adapter: adapter?.info.description ?? null, ` +
      `maps: await Deno.readTextFile("/proc/self/maps") }));\n`;
    const env = Deno.env.toObject();
    delete env.DENO_WEBGPU_BACKEND; // the library's own choice is what is under test
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", "--ext=ts", script],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const { adapter, maps } = JSON.parse(new TextDecoder().decode(stdout));
    assert.ok(adapter, "the child found no adapter");
    const gl = (maps as string).split("\n").filter((line) => GL_LIBRARIES.test(line));
    assert.deepEqual(gl, [], `GL libraries mapped after findAdapter:\n${gl.join("\n")}`);
  },
});

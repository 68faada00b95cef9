// Ops of IREE's e2e tests that VMVX cannot compile, so this module names its
// own target (llvm-cpu, generic x86-64, embedded ELF) and ignores the
// command line's backends: Winograd transforms (tests/e2e/linalg_ext_ops) and
// f16/bf16 arithmetic (tests/e2e/linalg/small_float_arith.mlir,
// stablehlo_ops/dot_bf16.mlir). Compared with IREE's runtime by
// tests/hal/test_e2e_ops.py; timed by bench/conformance.py.
module attributes {hal.device.targets = [#hal.device.target<"local", [
    #hal.executable.target<"llvm-cpu", "embedded-elf-x86_64", {
        cpu = "generic", cpu_features = "",
        data_layout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128",
        iree.encoding.resolver = #iree_cpu.cpu_encoding_resolver<>, max_stack_allocation_size = 32768 : i64,
        native_vector_size = 16 : i64, target_triple = "x86_64-unknown-unknown-eabi-elf"}>]> : !hal.device]} {

// F(6x6, 3x3) transforms of a 10x10 NHWC image (2 by 2 tiles) and a 3x3 HWCF filter.
func.func @winograd(%x: tensor<1x10x10x2xf32>, %w: tensor<3x3x2x2xf32>)
    -> (tensor<8x8x1x2x2x2xf32>, tensor<8x8x2x2xf32>, tensor<1x12x12x2xf32>) {
  %ei = tensor.empty() : tensor<8x8x1x2x2x2xf32>
  %in = iree_linalg_ext.winograd.input_transform output_tile_size(6) kernel_size(3) image_dimensions([1, 2])
      ins(%x : tensor<1x10x10x2xf32>) outs(%ei : tensor<8x8x1x2x2x2xf32>) -> tensor<8x8x1x2x2x2xf32>
  %ef = tensor.empty() : tensor<8x8x2x2xf32>
  %filter = iree_linalg_ext.winograd.filter_transform output_tile_size(6) kernel_size(3) kernel_dimensions([0, 1])
      ins(%w : tensor<3x3x2x2xf32>) outs(%ef : tensor<8x8x2x2xf32>) -> tensor<8x8x2x2xf32>
  %eo = tensor.empty() : tensor<1x12x12x2xf32>
  %out = iree_linalg_ext.winograd.output_transform output_tile_size(6) kernel_size(3) image_dimensions([1, 2])
      ins(%in : tensor<8x8x1x2x2x2xf32>) outs(%eo : tensor<1x12x12x2xf32>) -> tensor<1x12x12x2xf32>
  return %in, %filter, %out : tensor<8x8x1x2x2x2xf32>, tensor<8x8x2x2xf32>, tensor<1x12x12x2xf32>
}

func.func @f16_arith(%a: tensor<8xf16>, %b: tensor<8xf16>, %x: tensor<8xf32>)
    -> (tensor<8xf16>, tensor<8xf16>, tensor<8xf16>, tensor<8xf32>) {
  %sum = arith.addf %a, %b : tensor<8xf16>
  %prod = arith.mulf %a, %b : tensor<8xf16>
  %narrow = arith.truncf %x : tensor<8xf32> to tensor<8xf16>
  %wide = arith.extf %a : tensor<8xf16> to tensor<8xf32>
  return %sum, %prod, %narrow, %wide : tensor<8xf16>, tensor<8xf16>, tensor<8xf16>, tensor<8xf32>
}

func.func @f16_matmul(%a: tensor<4x8xf16>, %b: tensor<8x4xf16>) -> tensor<4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x8xf16>, tensor<8x4xf16>) outs(%init : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

func.func @bf16_arith(%a: tensor<8xbf16>, %b: tensor<8xbf16>, %x: tensor<8xf32>)
    -> (tensor<8xbf16>, tensor<8xbf16>, tensor<8xf32>) {
  %sum = arith.addf %a, %b : tensor<8xbf16>
  %narrow = arith.truncf %x : tensor<8xf32> to tensor<8xbf16>
  %wide = arith.extf %b : tensor<8xbf16> to tensor<8xf32>
  return %sum, %narrow, %wide : tensor<8xbf16>, tensor<8xbf16>, tensor<8xf32>
}

}

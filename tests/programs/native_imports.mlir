// Imports of a native module "native" (a tvm-ffi library, or a Python file
// standing in for one): tests/modules/test_native_module.py.
func.func private @native.scale(tensor<?xf32>, f32) -> tensor<?xf32>
func.func private @native.add(i64, i64) -> i64
func.func private @native.half(f32) -> f32
func.func private @native.sleep_ms(i64) -> i64
func.func private @native.fail(i64) -> i64

// scale(x, factor) + x: the library's result feeds a kernel.
func.func @scale_plus(%x: tensor<?xf32>, %factor: f32) -> tensor<?xf32> {
  %y = call @native.scale(%x, %factor) : (tensor<?xf32>, f32) -> tensor<?xf32>
  %z = arith.addf %y, %x : tensor<?xf32>
  return %z : tensor<?xf32>
}

// (a + b) * 3, with the sum from the library.
func.func @add_times_three(%a: i64, %b: i64) -> i64 {
  %sum = call @native.add(%a, %b) : (i64, i64) -> i64
  %three = arith.constant 3 : i64
  %product = arith.muli %sum, %three : i64
  return %product : i64
}

func.func @half(%value: f32) -> f32 {
  %result = call @native.half(%value) : (f32) -> f32
  return %result : f32
}

func.func @sleep(%milliseconds: i64) -> i64 {
  %slept = call @native.sleep_ms(%milliseconds) : (i64) -> i64
  return %slept : i64
}

func.func @fail(%value: i64) -> i64 {
  %result = call @native.fail(%value) : (i64) -> i64
  return %result : i64
}

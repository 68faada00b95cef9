// Imports that disagree with the library's type metadata: add takes i64s,
// not f32s (tests/modules/test_native_module.py).
func.func private @native.add(f32, f32) -> f32
func.func @add(%a: f32, %b: f32) -> f32 {
  %sum = call @native.add(%a, %b) : (f32, f32) -> f32
  return %sum : f32
}

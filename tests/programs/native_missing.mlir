// An import the library does not export (tests/modules/test_native_module.py).
func.func private @native.missing(i64) -> i64
func.func @call_missing(%a: i64) -> i64 {
  %result = call @native.missing(%a) : (i64) -> i64
  return %result : i64
}

// Parameters read and written by functions (compile with
// --iree-opt-const-eval=false): @read_param loads 4 floats of "model"::"weight"
// from byte 4 (an io_parameters.load with a parameter offset), @write_param
// writes x into it (an io_parameters.scatter). See tests/modules/test_io_parameters.py.
func.func @read_param() -> tensor<4xf32> {
  %scope = util.buffer.constant : !util.buffer = "model"
  %key = util.buffer.constant : !util.buffer = "weight"
  %offset = arith.constant 4 : i64
  %r = flow.parameter.load %scope::%key[%offset] : tensor<4xf32>
  return %r : tensor<4xf32>
}
func.func @write_param(%x: tensor<4xf32>) -> tensor<4xf32> {
  %scope = util.buffer.constant : !util.buffer = "model"
  %key = util.buffer.constant : !util.buffer = "weight"
  %offset = arith.constant 0 : i64
  %r = flow.parameter.write %x -> %scope::%key[%offset] : tensor<4xf32>
  return %r : tensor<4xf32>
}

// Functions that only pass tensors through: no hal.* import, but the
// program's types name !hal.buffer_view.
func.func @identity(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

func.func @swap(%a: tensor<2xi32>, %b: tensor<3xi32>) -> (tensor<3xi32>, tensor<2xi32>) {
  return %b, %a : tensor<3xi32>, tensor<2xi32>
}

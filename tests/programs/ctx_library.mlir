// A library module imported by ctx_user.mlir.
vm.module @library <{version = 3 : i32}> {
  vm.func @add(%a: i32, %b: i32) -> i32 {
    %c = vm.add.i32 %a, %b : i32
    vm.return %c : i32
  }
  vm.export @add
  vm.func @scale(%x: i64, %factor: f32) -> (i64, f32) {
    %f = vm.cast.si64.f32 %x : i64 -> f32
    %y = vm.mul.f32 %f, %factor : f32
    %z = vm.add.i64 %x, %x : i64
    vm.return %z, %y : i64, f32
  }
  vm.export @scale
}

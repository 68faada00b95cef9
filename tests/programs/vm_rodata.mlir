// Rodata the compiler stores outside the FlatBuffer: a segment of 4096 bytes
// or more, and one with a MIME type. Embedded: a small one.
vm.module @vm_rodata {
  vm.rodata private @large dense<[7, 11, 13, 17]> : tensor<4xi32>
  vm.rodata private @table dense<3> : tensor<2048xi32>
  vm.rodata private @note <{mime_type = "text/plain", alignment = 32 : i64}> dense<[65, 66, 67]> : tensor<3xi8>
  vm.rodata private @tiny dense<[5, 6]> : tensor<2xi16>
  vm.export @read
  vm.func private @read(%i : i64) -> (i32, i64, i32, i64, i32, i64) {
    %t = vm.const.ref.rodata @table : !vm.buffer
    %n = vm.const.ref.rodata @note : !vm.buffer
    %s = vm.const.ref.rodata @tiny : !vm.buffer
    %tv = vm.buffer.load.i32 %t[%i] : !vm.buffer -> i32
    %tl = vm.buffer.length %t : !vm.buffer -> i64
    %nv = vm.buffer.load.i8.u %n[%i] : !vm.buffer -> i32
    %nl = vm.buffer.length %n : !vm.buffer -> i64
    %sv = vm.buffer.load.i16.s %s[%i] : !vm.buffer -> i32
    %sl = vm.buffer.length %s : !vm.buffer -> i64
    vm.return %tv, %tl, %nv, %nl, %sv, %sl : i32, i64, i32, i64, i32, i64
  }
  vm.export @hash_table
  vm.func private @hash_table() -> i64 {
    %t = vm.const.ref.rodata @table : !vm.buffer
    %zero = vm.const.i64.zero
    %len = vm.buffer.length %t : !vm.buffer -> i64
    %h = vm.buffer.hash %t, %zero, %len : !vm.buffer -> i64
    vm.return %h : i64
  }
}

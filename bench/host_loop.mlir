// Host loop used by bench/host_loop.py: sum of i * 3 xor i for i in [0, n).
func.func @loop(%n: i32) -> i32 {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c3 = arith.constant 3 : i32
  %r:2 = scf.while (%i = %c0, %acc = %c0) : (i32, i32) -> (i32, i32) {
    %more = arith.cmpi slt, %i, %n : i32
    scf.condition(%more) %i, %acc : i32, i32
  } do {
  ^bb0(%i: i32, %acc: i32):
    %t = arith.muli %i, %c3 : i32
    %x = arith.xori %t, %i : i32
    %a = arith.addi %acc, %x : i32
    %next = arith.addi %i, %c1 : i32
    scf.yield %next, %a : i32, i32
  }
  return %r#1 : i32
}

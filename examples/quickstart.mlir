// A small host program for the quickstart: integer loops and calls.
func.func @collatz_steps(%start: i64) -> i32 {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %one = arith.constant 1 : i64
  %two = arith.constant 2 : i64
  %three = arith.constant 3 : i64
  %r:2 = scf.while (%n = %start, %steps = %c0) : (i64, i32) -> (i64, i32) {
    %more = arith.cmpi sgt, %n, %one : i64
    scf.condition(%more) %n, %steps : i64, i32
  } do {
  ^bb0(%n: i64, %steps: i32):
    %rem = arith.remsi %n, %two : i64
    %zero = arith.constant 0 : i64
    %odd = arith.cmpi ne, %rem, %zero : i64
    %tripled = arith.muli %n, %three : i64
    %up = arith.addi %tripled, %one : i64
    %down = arith.divsi %n, %two : i64
    %next = arith.select %odd, %up, %down : i64
    %s = arith.addi %steps, %c1 : i32
    scf.yield %next, %s : i64, i32
  }
  return %r#1 : i32
}

func.func @gcd(%a: i32, %b: i32) -> i32 {
  %c0 = arith.constant 0 : i32
  %r:2 = scf.while (%x = %a, %y = %b) : (i32, i32) -> (i32, i32) {
    %nonzero = arith.cmpi ne, %y, %c0 : i32
    scf.condition(%nonzero) %x, %y : i32, i32
  } do {
  ^bb0(%x: i32, %y: i32):
    %m = arith.remsi %x, %y : i32
    scf.yield %y, %m : i32, i32
  }
  return %r#0 : i32
}

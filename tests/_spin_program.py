"""tests/programs/runaway.mlir with a static shape, as MLIR text: ``spin``
iterates each element of ``x`` as many times as ``n`` says, in one
dispatch. A static shape lets IREE's compiler memoize its command buffer,
so that one command buffer serves every call."""

from __future__ import annotations


def spin_program(elements: int) -> str:
    """The program over ``elements`` elements of f32 (counts: i32)."""
    shape = f"tensor<{elements}xf32>"
    counts = f"tensor<{elements}xi32>"
    return f"""
func.func @spin(%x: {shape}, %n: {counts}) -> {shape} {{
  %init = tensor.empty() : {shape}
  %r = linalg.generic {{indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>,
                                        affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}}
      ins(%x, %n : {shape}, {counts})
      outs(%init : {shape}) {{
    ^bb0(%a: f32, %count: i32, %o: f32):
      %zero = arith.constant 0 : index
      %one = arith.constant 1 : index
      %half = arith.constant 0.5 : f32
      %bound = arith.index_cast %count : i32 to index
      %s = scf.for %i = %zero to %bound step %one iter_args(%acc = %a) -> (f32) {{
        %m = arith.mulf %acc, %half : f32
        %p = arith.addf %m, %half : f32
        scf.yield %p : f32
      }}
      linalg.yield %s : f32
  }} -> {shape}
  return %r : {shape}
}}
"""

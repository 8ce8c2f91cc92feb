"""Run a `.tflite` through TensorFlow Lite Micro's Python interpreter (its reference kernels):
every row of ROWS.npy REPEAT times, outputs to OUT.npy, then the arena report on stdout. The
compiler benchmark runs this in a subprocess (under callgrind for instruction counts, counting
only inside `MicroInterpreter::Invoke`).

    python tflm_run.py MODEL.tflite ROWS.npy OUT.npy [REPEAT]
"""

import sys
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def main() -> None:
    model, rows_path, out_path = sys.argv[1:4]
    repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    rows = np.load(rows_path).astype(np.float32)
    interpreter = runtime.Interpreter.from_bytes(Path(model).read_bytes(), arena_size=1 << 20)
    outputs = []
    for row in rows:
        for _ in range(repeat):
            interpreter.set_input(row[None], 0)
            interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)).reshape(-1))
    np.save(out_path, np.array(outputs))
    sys.stdout.flush()
    interpreter.print_allocations()


if __name__ == "__main__":
    main()

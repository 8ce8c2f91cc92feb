"""Build and run one model's C the same way for every framework: on the host under callgrind,
and cross-compiled for a Cortex-M4 run under QEMU (mps2-an386, start-up and linker script in
benchmarks/mcu/).

A `CProgram` is the framework's sources plus a `glue.c` defining `model_init()` and
`int model_predict(const float *row)`; `mcu/harness.c` calls them on fixed rows.

- Host instructions per inference: callgrind's total for REPEAT=11 minus REPEAT=1 on one row,
  divided by 10 (process start-up and the harness cancel out). gcc -O2.
- Cortex-M4 instructions per inference: QEMU executes the program one instruction per
  translation block (`-singlestep -d exec,nochain`), so its execution trace has one line per
  guest instruction; (lines for REPEAT=3 - lines for REPEAT=1) / 2. Deterministic: QEMU runs
  the guest's instructions in program order, with no timing. arm-none-eabi-gcc -Os,
  -ffunction-sections -fdata-sections, linked with --gc-sections against newlib-nano.
- Cortex-M4 flash and RAM: `arm-none-eabi-size` of the linked program minus the same program
  with a glue that runs no model (start-up, harness, rows and libc cancel out): flash = text +
  data, static RAM = data + bss; stack = the peak stack (painted at reset) minus the
  baseline's.
"""

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeops.compiler.emit import c_float

MCU = Path(__file__).parent / "mcu"
HOST_FLAGS = ("-std=c99", "-O2")
M4_FLAGS = (
    "-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
    "-ffunction-sections", "-fdata-sections",
)  # fmt: skip
QEMU = (
    "qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
    "-semihosting-config", "enable=on,target=native",
)  # fmt: skip
DONE_MARKER = b"] harness_done"  # QEMU names the function of each traced instruction
BASELINE_GLUE = """void model_init(void) {}
int model_predict(const float *row) { return (int)row[0]; }
"""


@dataclass
class CProgram:
    """A framework's C for one model; `rows` transforms benchmark rows into what it takes."""

    name: str
    files: dict[str, str]
    include_dirs: list[str] = field(default_factory=list)


def _rows_header(rows: np.ndarray) -> str:
    flat = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    body = ",\n".join("{" + ", ".join(c_float(float(v)) for v in row) + "}" for row in flat)
    return (f"#define ROW_COUNT {len(flat)}\n#define ROW_LEN {flat.shape[1]}\n"
            f"static const float rows[ROW_COUNT][ROW_LEN] = {{\n{body}\n}};\n")  # fmt: skip


def _write(program: CProgram, rows: np.ndarray, work: Path) -> list[str]:
    work.mkdir(parents=True, exist_ok=True)
    for filename, text in program.files.items():
        (work / filename).write_text(text, encoding="utf-8")
    (work / "rows.h").write_text(_rows_header(rows), encoding="utf-8")
    sources = [str(MCU / "harness.c")] + [str(work / f) for f in program.files if f.endswith(".c")]
    return [*sources, f"-I{work}", *(f"-I{d}" for d in program.include_dirs)]


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(command, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr.decode()[-3000:]}")
    return result


def _tops(output: bytes) -> np.ndarray:
    return np.array([int(v) for v in re.findall(rb"^top (\d+)", output, re.MULTILINE)])


def host_binary(program: CProgram, rows: np.ndarray, repeat: int, work: Path) -> Path:
    binary = work / f"host{repeat}"
    _run(["gcc", *HOST_FLAGS, f"-DREPEAT={repeat}", *_write(program, rows, work), "-o",
          str(binary), "-lm"])  # fmt: skip
    return binary


def host_predictions(program: CProgram, rows: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory() as temporary:
        binary = host_binary(program, rows, 1, Path(temporary))
        return _tops(_run([str(binary)]).stdout)


def callgrind(command: list[str], work: Path, *options: str) -> int:
    out = work / f"callgrind.{len(list(work.glob('callgrind.*')))}"
    result = _run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *options,
                   *command])  # fmt: skip
    return int(re.findall(rb"Collected : (\d+)", result.stderr)[0])


def host_instructions(program: CProgram, row: np.ndarray) -> int:
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        counts = [callgrind([str(host_binary(program, row[None], k, work))], work)
                  for k in (1, 11)]  # fmt: skip
    return (counts[1] - counts[0]) // 10


def m4_elf(program: CProgram, rows: np.ndarray, repeat: int, work: Path) -> Path:
    elf = work / f"m4_{repeat}.elf"
    _run(["arm-none-eabi-gcc", *M4_FLAGS, f"-DREPEAT={repeat}", "-nostartfiles", "-T",
          str(MCU / "link.ld"), "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs",
          str(MCU / "startup.c"), *_write(program, rows, work), "-o", str(elf), "-lm"])  # fmt: skip
    return elf


def m4_sizes(elf: Path) -> dict[str, int]:
    output = _run(["arm-none-eabi-size", str(elf)]).stdout.decode()
    text, data, bss = (int(v) for v in re.findall(r"^\s*(\d+)\s+(\d+)\s+(\d+)", output, re.M)[0])
    return {"text": text, "data": data, "bss": bss}


def qemu(elf: Path, trace: bool = False) -> tuple[bytes, int | None]:
    """(semihosting output, guest instructions executed when traced: from reset up to the
    harness' `harness_done()`). The trace streams through a pipe (hundreds of MB for the
    larger models) and is counted, never stored."""
    if not trace:
        result = _run([*QEMU, "-kernel", str(elf)], timeout=600)
        return result.stdout + result.stderr, None  # semihosting writes to QEMU's stderr
    options = ["-singlestep", "-d", "exec,nochain", "-D", "/dev/stdout"]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([*QEMU, *options, "-kernel", str(elf)],
                                   stdout=subprocess.PIPE, stderr=errors)  # fmt: skip
        assert process.stdout is not None
        lines, tail, done = 0, b"", False
        while chunk := process.stdout.read(1 << 20):
            if done:
                continue  # drain: QEMU may not flush its log's last lines at exit
            data = tail + chunk
            end = data.find(DONE_MARKER)
            done = end >= 0
            lines += data[: end if done else len(data)].count(b"Trace ") - tail.count(b"Trace ")
            tail = data[-32:]
        if process.wait() != 0 or not done:
            raise RuntimeError(f"qemu-system-arm failed on {elf} (or never reached the marker)")
        errors.seek(0)
        return errors.read(), lines


def _stack(output: bytes) -> int:
    return int(re.findall(rb"^stack (\d+)", output, re.MULTILINE)[0])


def m4_measure(program: CProgram, rows: np.ndarray) -> dict[str, Any]:
    """Flash, static RAM and stack beyond the no-model baseline, instructions per inference on
    the first row, and the top class of every row, on the Cortex-M4 under QEMU."""
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        base_elf = m4_elf(CProgram("baseline", {"glue.c": BASELINE_GLUE}), rows[:1], 1,
                          work / "baseline")  # fmt: skip
        base, base_output = m4_sizes(base_elf), qemu(base_elf)[0]
        counts, outputs = [], []
        for repeat in (1, 3):
            elf = m4_elf(program, rows[:1], repeat, work / f"count{repeat}")
            output, lines = qemu(elf, trace=True)
            counts.append(lines or 0)
            outputs.append(output)
        sizes = m4_sizes(work / "count1" / "m4_1.elf")
        tops = _tops(qemu(m4_elf(program, rows, 1, work / "all"))[0])
    flash = sizes["text"] + sizes["data"] - base["text"] - base["data"]
    return {
        "instructions_per_inference": (counts[1] - counts[0]) // 2,
        "flash_bytes": flash,
        "ram_bytes": sizes["data"] + sizes["bss"] - base["data"] - base["bss"],
        "stack_bytes": _stack(outputs[0]) - _stack(base_output),
        "sections_beyond_baseline": {k: sizes[k] - base[k] for k in sizes},
        "predictions": tops,
    }

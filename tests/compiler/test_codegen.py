"""The generated library as firmware uses it: the header's API, separate compilation, two
models in one program, timing hooks, no allocation."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeops.compiler.codegen import generate
from edgeops.compiler.ir import Graph, GraphBuilder
from edgeops.compiler.quantize import quantize
from edgeops.compiler.verify import GCC_FLAGS, write_sources
from edgeops.errors import InvalidInput

MAIN = r"""
#include <stdio.h>
#include "model_a.h"
#include "model_b.h"

uint32_t fake_clock = 0;

int main(void)
{
    float x[MODEL_A_INPUT_LEN];
    model_a_result a;
    model_b_result b;
    int i;
    for (i = 0; i < MODEL_A_INPUT_LEN; i++) x[i] = (float)i / 4.0f - 1.0f;
    if (model_a_init() != 0 || model_b_init() != 0) return 1;
    printf("%d %d\n", model_a_run(NULL, MODEL_A_INPUT_LEN, &a), model_a_run(x, 3, &a));
    if (model_a_run(x, MODEL_A_INPUT_LEN, &a) != 0 || model_b_run(x, MODEL_B_INPUT_LEN, &b) != 0)
        return 2;
    printf("%u %u %d %s\n", (unsigned)a.dsp_us, (unsigned)a.inference_us, a.top,
           a.labels[a.top]);
    for (i = 0; i < (int)a.score_count; i++) printf("%.9g %.9g\n", a.scores[i], b.scores[i]);
    return 0;
}
"""


def small_net() -> Graph:
    rng = np.random.default_rng(8)
    builder = GraphBuilder((6,))
    builder.op("dense", (5,), {"w": rng.normal(size=(5, 6)), "b": rng.normal(size=5)})
    builder.op("relu", (5,))
    builder.op("dense", (3,), {"w": rng.normal(size=(3, 5)), "b": rng.normal(size=3)})
    builder.op("softmax", (3,))
    return builder.build("classification", ["zero", 'quote"d', "naïve"])


def test_two_models_link_into_one_program_through_the_header(tmp_path: Path) -> None:
    graph = small_net()
    quantized = quantize(graph, np.random.default_rng(0).normal(size=(50, 6)))
    write_sources(generate(graph, name="model_a"), tmp_path)
    write_sources(generate(quantized, name="model_b"), tmp_path)
    (tmp_path / "main.c").write_text(MAIN)
    (tmp_path / "clock.h").write_text("#include <stdint.h>\nextern uint32_t fake_clock;\n")
    binary = tmp_path / "main"
    subprocess.run(
        ["gcc", *GCC_FLAGS, "-include", str(tmp_path / "clock.h"),
         "-DEDGEOPS_NOW_US()=(fake_clock += 7u)", str(tmp_path / "model_a.c"),
         str(tmp_path / "model_b.c"), str(tmp_path / "main.c"), "-o", str(binary), "-lm"],
        check=True,
    )  # fmt: skip
    lines = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    errors, timing, *rows = lines.splitlines()
    assert errors == "-1 -2"  # NULL input, wrong length
    dsp_us, inference_us, top, label = timing.split(" ", 3)
    assert (dsp_us, inference_us) == ("7", "7")  # the hook is read around each stage
    scores = np.array([[float(v) for v in row.split()] for row in rows])
    assert scores.shape == (3, 2)
    np.testing.assert_allclose(scores.sum(axis=0), 1.0, atol=0.02)
    assert int(top) == scores[:, 0].argmax()
    assert label == graph.labels[int(top)]  # labels survive C string escaping
    assert abs(scores[:, 0] - scores[:, 1]).max() < 0.05  # int8 close to float


def test_sources_are_static_and_straight_line() -> None:
    graph = quantize(small_net(), np.random.default_rng(0).normal(size=(50, 6)))
    files = generate(graph)
    assert set(files) == {"edgeops.h", "edgeops.c", "edgeops_common.h", "edgeops_int8.h"}
    text = "\n".join(files.values())
    assert "malloc(" not in text and "free(" not in text and "calloc(" not in text
    source = files["edgeops.c"]
    assert "static const int8_t" in source and "static const int32_t" in source
    run = source[source.index("int edgeops_run") :]
    calls = [line.strip().split("(")[0] for line in run.splitlines() if "eo_" in line]
    assert calls == ["eo_quantize_s8", "eo_dense_s8", "eo_dense_s8", "eo_softmax_s8"]
    assert "switch" not in run
    assert (
        "int edgeops_run(const float *signal, size_t len, edgeops_result *out);"
        in files["edgeops.h"]
    )


def test_refuses_bad_names_and_recipe_mismatch() -> None:
    with pytest.raises(InvalidInput, match="C identifier"):
        generate(small_net(), name="my-model")
    from edgeops.recipes.spec import load_recipe

    recipe = load_recipe(
        "name: r\ninput: {axes: [x], frequency_hz: 10, window_ms: 1000, stride_ms: 1000}\n"
        "features: [{name: flatten}]\nlearner: {name: nn-classifier}\n"
    )
    with pytest.raises(InvalidInput, match="produce 7 features but the model takes 6"):
        generate(small_net(), recipe=recipe)
    with pytest.raises(InvalidInput, match="2 block states for 1 feature blocks"):
        generate(small_net(), recipe=recipe, states=[None, None])

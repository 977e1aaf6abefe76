"""What a stage records of the machine and libraries it computed on."""

from __future__ import annotations

from importlib import metadata

import torch

from edco.models.environment import LIBRARIES, cpu_info, environment
from edco.reporting.comparison import environment_lines

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile avx512_bf16

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx2
"""


def test_cpu_info_reads_the_first_processor_of_a_linux_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    name, flags = cpu_info(path)
    assert name == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"amx_bf16", "avx512_bf16", "avx2"} <= flags
    assert cpu_info(tmp_path / "absent")[1] == set()  # not Linux: a name from platform, no flags


def test_the_environment_names_this_process_s_libraries_threads_and_device():
    env = environment()
    assert {name: env[name] for name in LIBRARIES} == {name: metadata.version(name) for name in LIBRARIES}
    assert env["threads"] == torch.get_num_threads()
    assert env["accelerator"] == ("cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0))
    assert set(env["cpu_bf16"]) <= {"amx_bf16", "avx512_bf16"}


def test_a_comparison_names_one_environment_or_lists_each_with_its_members():
    env = {"accelerator": "cpu", "cpu": "AMD EPYC", "cpu_bf16": ["avx512_bf16"], "threads": 2, "python": "3.11.7"}
    env |= {name: "1.0" for name in LIBRARIES}
    one = environment_lines({"a-s0": [env], "a-s1": [env]})
    assert one == [
        "",
        "Every member's stages ran on CPU AMD EPYC (bfloat16 features: avx512_bf16), 2 threads, Python 3.11.7, "
        "torch 1.0, transformers 1.0, trl 1.0, accelerate 1.0, peft 1.0.",
    ]
    amx = env | {"cpu": "Intel Xeon", "cpu_bf16": ["amx_bf16", "avx512_bf16"]}
    two = environment_lines({"a-s0": [env], "a-s1": [env, amx]})  # a-s1 resumed on another machine
    assert two[1].startswith("The members' stages ran in 2 environments")
    assert two[3].endswith(": a-s0, a-s1") and "AMD EPYC" in two[3]
    assert two[4].endswith(": a-s1") and "Intel Xeon (bfloat16 features: amx_bf16, avx512_bf16)" in two[4]
    assert environment_lines({"old": []}) == []

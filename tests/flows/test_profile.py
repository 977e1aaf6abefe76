"""The operator profile of benchmarks/profile_interval.py on a real (small) training step."""

from __future__ import annotations

import torch

from benchmarks.profile_interval import profiled


def test_a_training_step_is_split_into_forward_backward_and_optimizer_and_adds_up():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 8))
    optimizer = torch.optim.AdamW(model.parameters())

    def step() -> float:
        loss = model(torch.randn(64, 256)).square().mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    wall, loss, kinds, ops = profiled(step)
    assert loss > 0
    assert 0 <= kinds["outside operators", "Python"] < wall  # operators' self times never count a second twice
    assert {part for part, _ in kinds} == {"forward", "backward", "optimizer step", "outside operators"}
    # forward: addmm of each Linear; backward: their gradient matmuls; AdamW's update is not a matmul
    assert kinds["forward", "matrix multiplies"] > 0 and kinds["backward", "matrix multiplies"] > 0
    assert kinds["optimizer step", "matrix multiplies"] == 0 and kinds["optimizer step", "other tensor ops"] > 0
    assert ops["aten::addmm"] > 0 and ops["aten::mm"] > 0

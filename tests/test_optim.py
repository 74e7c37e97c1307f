"""The experiments train with torch.optim.Adam/AdamW at torch's defaults. On CPU those run the single-tensor kernel
(``foreach=None`` resolves to it off CUDA), the one repro's former functional wrapper called, so ci results stayed
bit-identical when the wrapper went; on CUDA torch picks the foreach kernel."""

import pytest
import torch
from torch.optim.adam import adam


def _functional_step(params, state, lr, weight_decay, decoupled, betas=(0.9, 0.999), eps=1e-8):
    """One update as the former ``repro.methods.optim.Adam`` made it: torch's functional kernel, ``foreach=False``."""
    adam(
        params,
        [p.grad for p in params],
        state["exp_avgs"],
        state["exp_avg_sqs"],
        [],
        state["steps"],
        foreach=False,
        decoupled_weight_decay=decoupled,
        amsgrad=False,
        beta1=betas[0],
        beta2=betas[1],
        lr=lr,
        weight_decay=weight_decay,
        eps=eps,
        maximize=False,
    )


def _loss(param: torch.Tensor) -> torch.Tensor:
    return (param**3).sum() + param.sin().sum()


@pytest.mark.parametrize(("weight_decay", "decoupled"), [(0.0, False), (0.1, False), (0.1, True)])
def test_torch_optim_on_cpu_matches_the_functional_kernel_bit_for_bit(weight_decay, decoupled):
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))
    b = torch.nn.Parameter(a.detach().clone())
    optimizer = (torch.optim.AdamW if decoupled else torch.optim.Adam)([a], lr=0.05, weight_decay=weight_decay)
    state = {"exp_avgs": [torch.zeros_like(b)], "exp_avg_sqs": [torch.zeros_like(b)], "steps": [torch.tensor(0.0)]}
    for _ in range(30):
        optimizer.zero_grad()
        _loss(a).backward()
        optimizer.step()
        b.grad = None
        _loss(b).backward()
        with torch.no_grad():
            _functional_step([b], state, lr=0.05, weight_decay=weight_decay, decoupled=decoupled)
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.zeros_like(a))


def test_param_groups_match_one_functional_update_per_group():
    """dro_clip's decay / no-decay groups in one AdamW equal the two separate updates it made before."""
    torch.manual_seed(0)
    weight, bias = torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))
    w2, b2 = (torch.nn.Parameter(p.detach().clone()) for p in (weight, bias))
    optimizer = torch.optim.AdamW(
        [{"params": [weight], "weight_decay": 0.2}, {"params": [bias], "weight_decay": 0.0}], lr=0.01, betas=(0.9, 0.98)
    )
    states = [
        {"exp_avgs": [torch.zeros_like(p)], "exp_avg_sqs": [torch.zeros_like(p)], "steps": [torch.tensor(0.0)]}
        for p in (w2, b2)
    ]
    for step in range(10):
        lr = 0.01 * (step + 1) / 10  # a schedule, set per group as dro_clip does
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        (_loss(weight) + _loss(bias)).backward()
        optimizer.step()
        w2.grad = b2.grad = None
        (_loss(w2) + _loss(b2)).backward()
        with torch.no_grad():
            _functional_step([w2], states[0], lr=lr, weight_decay=0.2, decoupled=True, betas=(0.9, 0.98))
            _functional_step([b2], states[1], lr=lr, weight_decay=0.0, decoupled=False, betas=(0.9, 0.98))
    assert torch.equal(weight, w2) and torch.equal(bias, b2)


def test_state_dict_resumes_a_run_bit_for_bit():
    torch.manual_seed(0)
    start = torch.randn(6)
    straight = torch.nn.Parameter(start.clone())
    optimizer = torch.optim.AdamW([straight], lr=0.05, weight_decay=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        _loss(straight).backward()
        optimizer.step()

    resumed = torch.nn.Parameter(start.clone())
    first = torch.optim.AdamW([resumed], lr=0.05, weight_decay=0.1)
    for _ in range(10):
        first.zero_grad()
        _loss(resumed).backward()
        first.step()
    second = torch.optim.AdamW([resumed], lr=0.05, weight_decay=0.1)
    second.load_state_dict(first.state_dict())
    for _ in range(10):
        second.zero_grad()
        _loss(resumed).backward()
        second.step()
    assert torch.equal(straight, resumed)

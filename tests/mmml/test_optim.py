"""mmml's default optimiser: torch's AdamW, fused where it can be, the same steps as the per-tensor loop."""

import torch

from mmml.optim import adamw


def test_fused_adamw_takes_the_steps_of_the_per_tensor_loop():
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(7, 5, generator=g), torch.randn(5, generator=g)]
    grads = [[torch.randn(p.shape, generator=g) for p in start] for _ in range(30)]
    runs = []
    for make in (lambda ps: adamw(ps, lr=0.01, weight_decay=0.1),
                 lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1, foreach=False)):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        opt = make(params)
        for step in grads:
            for p, grad in zip(params, step, strict=True):
                p.grad = grad.clone()
            opt.step()
        runs.append(params)
    assert runs[0][0].abs().sum() > 0 and not torch.equal(runs[0][0], start[0])
    for got, want in zip(*runs, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_not_fused_where_a_parameter_does_not_allow_it():
    assert adamw([torch.nn.Parameter(torch.zeros(2))], lr=0.1).defaults["fused"]
    assert not adamw([torch.nn.Parameter(torch.zeros(2, device="meta"))], lr=0.1).defaults["fused"]

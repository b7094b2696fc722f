"""Training a fixed network: the recipe (``Recipe``, taken from a train block by ``recipe_of``), its image
augmentations (random shift, random flip, cutout), the epoch batches and their check, and the training loop
(``train_fixed``) that ``dasdsl train``, a search's fine-tune and one-shot scoring run.

The search's own epoch loop is ``dasdsl.engine.run.Run``; it draws its batches from here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import torch

from dasdsl.engine.data import Split
from dasdsl.engine.searcher import evaluate
from dasdsl.errors import fail
from dasdsl.lang.settings import TrainConfig


@attrs.frozen
class Recipe:
    """How a fixed network trains beyond epochs, batch, lr and seed (the train block's other settings, read and
    checked by ``dasdsl.lang.settings.TRAIN``; ``recipe_of`` takes them from a ``TrainConfig``): SGD's weight
    decay, gradient-norm clipping, label smoothing, image augmentation (``auto``: random shifts for images,
    nothing otherwise; ``crop_flip``: random crop with padding and horizontal flip, the CIFAR recipe),
    cutout (a zeroed square of ``cutout`` pixels, DARTS: 16), the auxiliary head's loss weight and the
    drop-path probability (DARTS: 0.4 and 0.2)."""

    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    cutout: int = 0
    augment: str = "auto"
    auxiliary: float = 0.0  # the auxiliary head's loss weight (DARTS: 0.4); 0: no head
    drop_path: float = 0.0  # drop-path probability reached at the end, ramped linearly from 0 (DARTS: 0.2)

    def augmentation(
        self, kind: str, shape: tuple[int, ...]
    ) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
        """The batch transform for data of this kind and sample shape (None: the batch as it is)."""
        if kind != "image":
            return None
        pad = max(1, shape[-1] // 8)
        steps: list[Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = []
        if self.augment in ("auto", "shift"):
            steps.append(random_shift(pad))
        elif self.augment == "crop_flip":
            steps += [random_shift(pad), random_flip]
        if self.cutout:
            steps.append(cutout(self.cutout))
        if not steps:
            return None

        def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            for step in steps:
                x = step(x, g)
            return x

        return augment


DEFAULT_RECIPE = Recipe()


def recipe_of(cfg: TrainConfig) -> Recipe:
    """The recipe part of a train block's settings (``TrainConfig``, already checked by the settings table)."""
    return Recipe(**{f.name: getattr(cfg, f.name) for f in attrs.fields(Recipe)})


def random_shift(pad: int) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Standard image augmentation: pad and randomly crop back (a shift of up to ``pad`` pixels)."""

    def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if x.dim() < 3 or pad == 0:
            return x
        padded = torch.nn.functional.pad(x, (pad,) * (2 * (x.dim() - 2)))
        out = torch.empty_like(x)
        for i in range(len(x)):
            offsets = torch.randint(0, 2 * pad + 1, (x.dim() - 2,), generator=g).tolist()
            index = (slice(None), *tuple(slice(o, o + s) for o, s in zip(offsets, x.shape[2:])))
            out[i] = padded[i][index]
        return out

    return augment


def random_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flip = torch.rand(len(x), generator=g) < 0.5
    out = x.clone()
    out[flip] = x[flip].flip(-1)
    return out


def cutout(length: int) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Cutout (DeVries and Taylor 2017): a length x length square, centred at a uniform random pixel and clipped
    at the borders, set to zero in each image."""

    def apply(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        h, w = x.shape[-2:]
        out = x.clone()
        ys = torch.randint(0, h, (len(x),), generator=g).tolist()
        xs = torch.randint(0, w, (len(x),), generator=g).tolist()
        for i, (cy, cx) in enumerate(zip(ys, xs)):
            top, left = max(cy - length // 2, 0), max(cx - length // 2, 0)
            out[i, ..., top : min(cy + length // 2, h), left : min(cx + length // 2, w)] = 0
        return out

    return apply


def batches(n: int, batch: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """Shuffled index batches for one epoch, a function of (seed, epoch) only: resumable."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g)
    return [perm[i : i + batch] for i in range(0, n - batch + 1, batch)]


def check_batch(batch: int, data: Split, processes: int = 1, *, parts: tuple[str, ...] = ("train", "valid")) -> None:
    """A batch every part can fill (the last short batch of an epoch is dropped), at least 2 samples
    (batch normalisation needs two), and one that splits evenly over the processes."""
    sizes = {name: len(getattr(data, name)) for name in parts}
    if batch > min(sizes.values()):
        shown = " / ".join(str(n) for n in sizes.values())
        raise fail(f"batch {batch} is larger than the data split ({shown})", "<run>", "give a smaller batch")
    if batch < 2:
        raise fail(
            f"batch {batch}: batch normalisation needs at least 2 samples per batch",
            "<run>",
            "give a batch of 2 or more",
        )
    if batch % processes:
        raise fail(
            f"batch {batch} does not split evenly over {processes} processes",
            "<run>",
            f"use a batch that is a multiple of {processes}",
        )


def train_fixed(
    net: torch.nn.Module,
    data: Split,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
    on_epoch: Callable[[dict], None] | None = None,
    stop: Callable[[], bool] | None = None,
    start_epoch: int = 0,
    state: dict[str, Any] | None = None,
    on_checkpoint: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict]:
    """Plain training of a fixed network: SGD with momentum, cosine schedule, gradient clipping;
    ``stop`` is asked after each epoch whether to end early. ``on_checkpoint(epoch, state)`` gets the
    optimizer's and schedule's state after each epoch; ``start_epoch`` and ``state`` continue from one."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    if state is not None:
        try:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["schedule"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
            raise fail(
                f"the checkpoint's optimizer state does not fit this training ({type(exc).__name__}: {exc})",
                "<run>",
                "the checkpoint was edited or comes from another run; the files are left as they are",
            ) from None
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    history = []
    ctx = getattr(net, "ctx", None)  # a dasdsl network's drop-path probability lives in its context
    for epoch in range(start_epoch, epochs):
        net.train()
        if ctx is not None:
            ctx.drop_prob = recipe.drop_path * epoch / epochs  # DARTS' linear ramp, set per epoch
        g = torch.Generator().manual_seed(seed * 7919 + epoch)
        losses, accs = [], []
        idx_batches = batches(len(data.train), batch, seed + 17, epoch)
        for s, idx in enumerate(idx_batches):
            x, y = data.train.take(idx)
            if augment is not None:
                x = augment(x, g)
            opt.zero_grad(set_to_none=True)
            logits = net(x)
            loss = loss_fn(logits, y)
            aux = getattr(net, "aux_logits", None)
            if aux is not None and recipe.auxiliary > 0:  # DARTS: loss + 0.4 * the auxiliary head's loss
                loss = loss + recipe.auxiliary * loss_fn(aux, y)
                net.aux_logits = None
            value = float(loss.detach())  # float() of a tensor that requires grad warns
            if not np.isfinite(value):
                raise fail(f"the training loss became {value} at epoch {epoch + 1}", "<run>", "lower the learning rate")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.grad_clip)
            opt.step()
            losses.append(value)
            accs.append(float((logits.argmax(1) == y).float().mean()))
            if progress:
                progress(s + 1, len(idx_batches), {"loss": float(np.mean(losses)), "acc": float(np.mean(accs))})
        sched.step()
        valid_loss, valid_acc = evaluate(net, data.valid)
        if not np.isfinite(valid_loss):
            raise fail(
                f"the validation loss became {valid_loss} at epoch {epoch + 1}", "<run>", "lower the learning rate"
            )
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "train_acc": float(np.mean(accs)),
                "valid_loss": valid_loss,
                "valid_acc": valid_acc,
            }
        )
        if on_checkpoint is not None:
            on_checkpoint(epoch + 1, {"optimizer": opt.state_dict(), "schedule": sched.state_dict()})
        if on_epoch is not None:
            on_epoch(history[-1])
        if stop is not None and stop():
            break
    return history
